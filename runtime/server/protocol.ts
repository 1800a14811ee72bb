/** From job records to the wire shapes of the contract (contract/jobs.ts): job views and events. */
import type { JobEvent, JobResultView, JobView } from '../contract/index.ts';
import type { JobRecord } from './jobs.ts';

export { TERMINAL_EVENTS, type JobEvent, type JobEventName, type JobResultView, type JobView } from '../contract/index.ts';

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
