import type { ActiveJob } from './active-job.ts';

/** Undoes a job's preview: the frame gets its fills from before the job back, and its tiles show again. */
export function restoreFrame(job: ActiveJob): void {
  if (job.frame.removed) return;
  if (job.previewing) job.frame.fills = [...job.previousFills];
  job.previewing = false;
  if (job.hiddenGroup && !job.hiddenGroup.removed) job.hiddenGroup.visible = true;
  job.hiddenGroup = null;
}
