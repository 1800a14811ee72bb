import type { ActiveJob } from './active-job.ts';
import { absolutePosition } from './absolute-position.ts';
import { createFrame } from './create-frame.ts';
import type { Placement } from './messages.ts';

/** Gap between a resized frame and the new frame placed beside it. */
const GAP = 40;

/**
 * Where a finished job's image goes: its own frame when that still exists at the size it had; a new
 * frame beside it when it was resized or changed type meanwhile; a new frame where it was when it was
 * deleted. The new frames have the size the image was made for.
 */
export function resolvePlacement(job: ActiveJob): { frame: FrameNode; placement: Placement } {
  const frame = job.frame;
  if (frame.removed) {
    return { frame: createFrame(job.frameName, job.frameWidth, job.frameHeight, job.x, job.y), placement: 'new-frame' };
  }
  const resized = Math.abs(frame.width - job.frameWidth) > 0.5 || Math.abs(frame.height - job.frameHeight) > 0.5;
  if (!resized) return { frame, placement: 'frame' };
  const at = absolutePosition(frame);
  return { frame: createFrame(`${frame.name} (generated)`, job.frameWidth, job.frameHeight, at.x + frame.width + GAP, at.y), placement: 'beside' };
}
