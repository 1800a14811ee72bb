/** Wire shapes: what clients receive as JSON bodies and SSE events. */
import type { JobError } from './errors.ts';
import type { JobParams, JobRecord, JobResult, JobState } from './jobs.ts';

export interface JobResultView extends Omit<JobResult, 'file'> {
  /** Path of `GET /v1/jobs/{id}/image`. */
  url: string;
}

export interface JobView {
  id: string;
  state: JobState;
  params: JobParams;
  source: JobRecord['source'];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  progress: number;
  step: number;
  /** 1-based place among waiting jobs; 0 while running; null once finished. */
  position: number | null;
  error: JobError | null;
  result: JobResultView | null;
}

export function imageUrl(id: string): string {
  return `/v1/jobs/${id}/image`;
}

export function toJobView(record: JobRecord, position: number | null): JobView {
  const { request: _request, result, ...rest } = record;
  let resultView: JobResultView | null = null;
  if (result) {
    const { file: _file, ...meta } = result;
    resultView = { ...meta, url: imageUrl(record.id) };
  }
  return { ...rest, position, result: resultView };
}

/** Share of the progress bar given to the denoising steps; decode, encode and write fill the rest. */
export const STEP_SHARE = 0.95;
/** Progress when the last VAE tile is decoded (encode and write still to come). */
export const DECODE_END = 0.99;

interface EventBase {
  jobId: string;
  state: JobState;
  /** 0–1, stays below 1 until the image exists. */
  progress: number;
}

export type JobEvent =
  | (EventBase & { event: 'queued'; position: number })
  | (EventBase & { event: 'started' })
  | (EventBase & { event: 'progress'; step: number; steps: number; sigma: number; elapsedMs: number; etaMs: number })
  | (EventBase & { event: 'preview'; step: number; png: string; width: number; height: number })
  | (EventBase & { event: 'decoding'; tile: number; tiles: number })
  | (EventBase & { event: 'done'; result: JobResultView })
  | (EventBase & { event: 'failed'; error: JobError })
  | (EventBase & { event: 'cancelled' })
  | (EventBase & { event: 'interrupted'; error: JobError });

export type JobEventName = JobEvent['event'];
export const JOB_EVENT_NAMES = ['queued', 'started', 'progress', 'preview', 'decoding', 'done', 'failed', 'cancelled', 'interrupted'] as const satisfies readonly JobEventName[];
export const TERMINAL_EVENTS: ReadonlySet<JobEventName> = new Set(['done', 'failed', 'cancelled', 'interrupted']);

/** The terminal event for a finished record, or null while it is still queued or running. */
export function terminalEvent(record: JobRecord): JobEvent | null {
  const base = { jobId: record.id, state: record.state, progress: record.progress };
  switch (record.state) {
    case 'done':
      return record.result ? { ...base, event: 'done', result: toJobView(record, null).result! } : null;
    case 'failed':
      return { ...base, event: 'failed', error: record.error ?? { code: 'engine_error', message: 'Unknown failure.' } };
    case 'cancelled':
      return { ...base, event: 'cancelled' };
    case 'interrupted':
      return { ...base, event: 'interrupted', error: record.error ?? { code: 'interrupted', message: 'Interrupted.' } };
    default:
      return null;
  }
}
