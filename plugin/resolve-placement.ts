import type { ActiveJob } from './active-job.ts';
import { absolutePosition } from './absolute-position.ts';
import { createFrame } from './create-frame.ts';
import type { Placement } from '../contract/index.ts';
import { sameSize } from './outdated-reason.ts';

/** Gap between a resized frame and the new frame placed beside it. */
const GAP = 40;

/**
 * Where a finished job's image goes: its own frame when that still exists at the size it had; a new
 * frame beside it when it was resized meanwhile; a new frame where it was when it was deleted. New
 * frames have the size the image was made for and go on the page the frame was on when the job
 * started (the current page if that page is gone too), whichever page the user looks at now.
 */
export function resolvePlacement(job: ActiveJob): { frame: FrameNode; placement: Placement } {
  const frame = job.frame;
  const page = job.page.removed ? figma.currentPage : job.page;
  if (frame.removed) {
    return { frame: createFrame(page, job.frameName, job.frameWidth, job.frameHeight, job.x, job.y), placement: 'new-frame' };
  }
  if (sameSize(frame.width, frame.height, job.frameWidth, job.frameHeight)) return { frame, placement: 'frame' };
  const at = absolutePosition(frame);
  return { frame: createFrame(page, `${frame.name} (generated)`, job.frameWidth, job.frameHeight, at.x + frame.width + GAP, at.y), placement: 'beside' };
}
