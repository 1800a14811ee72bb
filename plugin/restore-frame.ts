import type { ActiveJob } from './active-job.ts';

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
