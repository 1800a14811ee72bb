import type { ActiveJob } from './active-job.ts';
import { findTilesGroup } from './find-tiles-group.ts';
import { imagePaint } from './image-paint.ts';
import { readGeneration } from './read-generation.ts';
import { replaceGeneratedFill } from './replace-generated-fill.ts';

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
  const shown = job.previewHash ?? readGeneration(frame)?.imageHash ?? null;
  frame.fills = replaceGeneratedFill(frame.fills, shown, imagePaint(image.hash));
  job.previewHash = image.hash;
  const group = findTilesGroup(frame);
  if (group && group.visible) {
    group.visible = false;
    job.hiddenGroup = group;
  }
}
