import type { ActiveJob } from './active-job.ts';
import { findChild } from './find-child.ts';
import { imagePaint } from './image-paint.ts';
import { readGeneration } from './read-generation.ts';
import { replaceGeneratedFill } from './replace-generated-fill.ts';

/** Shows a live preview as the frame's generated fill (temporary: the result or a restore replaces it). */
export function showPreview(job: ActiveJob, png: Uint8Array): void {
  if (job.frame.removed) return;
  const image = figma.createImage(png);
  const previous = readGeneration(job.frame);
  job.frame.fills = replaceGeneratedFill(job.previousFills, previous?.imageHash ?? null, imagePaint(image.hash));
  job.previewing = true;
  const group = findChild(job.frame, previous?.tilesGroupId ?? null);
  if (group && group.visible) {
    group.visible = false;
    job.hiddenGroup = group;
  }
}
