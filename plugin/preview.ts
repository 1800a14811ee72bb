/**
 * A running job on its frame: the live preview fill, restoring the frame when the job ends without an
 * image, and where its image goes when it has one.
 */
import type { GenerationParams, JobRequest, Placement } from '../runtime/contract/index.ts';
import { sameSize } from './frame-record.ts';
import { absolutePosition, createFrame, type PictureNode } from './nodes.ts';
import { findTilesGroup, imagePaint, replaceGeneratedFill } from './tiles.ts';

/** A job the main thread has handed to the UI and not yet seen finish. */
export interface ActiveJob {
  request: JobRequest;
  frame: PictureNode;
  frameName: string;
  params: GenerationParams;
  /** The frame's page, size and page position when the job started. */
  page: PageNode;
  frameWidth: number;
  frameHeight: number;
  x: number;
  y: number;
  /** The frame's fills and fill style when the first preview replaced them; null while no preview shows. */
  beforePreview: { fills: ReadonlyArray<Paint>; fillStyleId: string } | null;
  /** The image the preview fill shows now. */
  previewHash: string | null;
  /** The previous tile group, hidden while a preview shows. */
  hiddenGroup: SceneNode | null;
  /** The fill the preview and the result replace: the frame's generated image, or the picture a Refine started from. */
  replaces: string | null;
}

/**
 * Shows a live preview as the frame's generated fill (temporary: the result or a restore replaces it).
 * The first preview remembers the fills and fill style the frame has at that moment; each preview
 * changes only the generated paint of the fills the frame has now, keeping the user's other edits.
 */
export function showPreview(job: ActiveJob, png: Uint8Array): void {
  const frame = job.frame;
  if (frame.removed) return;
  const image = figma.createImage(png);
  if (!job.beforePreview) {
    const fills = frame.fills;
    const fillStyleId = frame.fillStyleId;
    job.beforePreview = { fills: typeof fills === 'symbol' ? [] : fills, fillStyleId: typeof fillStyleId === 'string' ? fillStyleId : '' };
  }
  const shown = job.previewHash ?? job.replaces;
  frame.fills = replaceGeneratedFill(frame.fills, shown, imagePaint(image.hash));
  job.previewHash = image.hash;
  const group = findTilesGroup(frame);
  if (group && group.visible) {
    group.visible = false;
    job.hiddenGroup = group;
  }
}

/**
 * Undoes a job's preview: the frame gets back the fills and fill style it had when the first preview
 * showed, and its tiles show again. The fills are back before the first await (so it also works from a
 * "close" listener); the style link follows.
 */
export async function restoreFrameAsync(job: ActiveJob): Promise<void> {
  const before = job.beforePreview;
  job.beforePreview = null;
  job.previewHash = null;
  if (job.hiddenGroup && !job.hiddenGroup.removed) job.hiddenGroup.visible = true;
  job.hiddenGroup = null;
  if (!before || job.frame.removed) return;
  job.frame.fills = before.fills;
  if (before.fillStyleId === '') return;
  try {
    // setting fills unlinked the style; under "dynamic-page" only the async setter may link it again
    await job.frame.setFillStyleIdAsync(before.fillStyleId);
  } catch {
    // the style was deleted meanwhile: the frame keeps the same paints, unlinked
  }
}

/** Gap between a resized frame and the new frame placed beside it. */
const GAP = 40;

/**
 * Where a finished job's image goes: its own frame when that still exists at the size it had; a new
 * frame beside it when it was resized meanwhile; a new frame where it was when it was deleted. New
 * frames have the size the image was made for and go on the page the frame was on when the job
 * started (the current page if that page is gone too), whichever page the user looks at now.
 */
export function resolvePlacement(job: ActiveJob): { frame: PictureNode; placement: Placement } {
  const frame = job.frame;
  const page = job.page.removed ? figma.currentPage : job.page;
  if (frame.removed) {
    return { frame: createFrame(page, job.frameName, job.frameWidth, job.frameHeight, job.x, job.y), placement: 'new-frame' };
  }
  if (sameSize(frame.width, frame.height, job.frameWidth, job.frameHeight)) return { frame, placement: 'frame' };
  const at = absolutePosition(frame);
  return { frame: createFrame(page, `${frame.name} (generated)`, job.frameWidth, job.frameHeight, at.x + frame.width + GAP, at.y), placement: 'beside' };
}
