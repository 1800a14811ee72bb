import { useEffect, useRef } from 'preact/hooks';
import { eta, byteSize, ordinal, shorten } from '../format.ts';
import { ACTIVE_STAGES, CANCELLABLE, type JobProgress } from '../job-runner.ts';

interface Props {
  jobs: JobProgress[];
  onCancel: (jobId: string) => void;
  onCancelAll: () => void;
  onClear: () => void;
}

function statusText(job: JobProgress): string {
  if (job.cancelling) return 'Cancelling…';
  switch (job.stage) {
    case 'uploading': {
      const [sent, total] = job.uploaded ?? [0, 0];
      return total > 0 ? `Uploading the picture · ${byteSize(sent)} of ${byteSize(total)}` : 'Preparing the picture…';
    }
    case 'queued':
      return job.position ? `Queued (${ordinal(job.position)} in line)` : 'Queued';
    case 'running':
      if (job.decoded) return `Decoding the image · part ${job.decoded[0]} of ${job.decoded[1]}`;
      return job.steps ? `Step ${job.step} of ${job.steps}${job.etaMs !== null && job.step > 0 ? ` · ${eta(job.etaMs)}` : ''}` : 'Starting…';
    case 'done':
      return 'Downloading the image…';
    case 'placing':
      return job.tiles > 1 ? `Placing ${job.tiles} tiles…` : 'Placing the image…';
    default:
      return job.message ?? job.stage;
  }
}

const failed = (job: JobProgress) => job.stage === 'failed' || job.stage === 'interrupted';

/** Per-frame progress with step count, ETA, live preview and cancel; a queue when several frames generate. */
export function QueuePanel({ jobs, onCancel, onCancelAll, onClear }: Props) {
  const active = jobs.filter((j) => ACTIVE_STAGES.has(j.stage));
  const finished = jobs.length - active.length;
  const panel = useRef<HTMLElement>(null);
  const seen = useRef(0);
  // new jobs scroll the queue into view, so that progress shows right after Generate
  useEffect(() => {
    if (jobs.length > seen.current) panel.current?.scrollIntoView({ block: 'nearest' });
    seen.current = jobs.length;
  }, [jobs.length]);
  return (
    <section class="panel" aria-labelledby="queue-title" ref={panel}>
      <div class="row">
        <h2 id="queue-title" class="grow">
          {active.length > 0 ? `Generating ${active.length} of ${jobs.length}` : 'Finished'}
        </h2>
        {active.length > 1 && (
          <button type="button" class="link danger" onClick={onCancelAll}>
            Cancel all
          </button>
        )}
        {finished > 0 && (
          <button type="button" class="link" onClick={onClear}>
            Clear finished
          </button>
        )}
      </div>
      <ul class="queue">
        {jobs.map((job) => {
          // while uploading, the bar shows the bytes sent
          const [sent, total] = job.stage === 'uploading' && job.uploaded ? job.uploaded : [job.progress, 1];
          const pct = total > 0 ? Math.round((sent / total) * 100) : 0;
          const cancellable = CANCELLABLE.has(job.stage) && !job.cancelling;
          return (
            <li key={job.jobId} class={`job stage-${job.stage}`} data-job={job.jobId}>
              <div class="thumb" aria-hidden={job.previewUrl ? undefined : 'true'}>
                {job.previewUrl ? <img src={job.previewUrl} alt={`Live preview of ${job.frameName}`} /> : <span />}
              </div>
              <div class="grow">
                <div class="row tight">
                  <span class="name grow">{shorten(job.frameName, 26)}</span>
                  <span class="muted small">
                    {job.width} × {job.height} px
                  </span>
                </div>
                <div class="bar" role="progressbar" aria-label={`Progress of ${job.frameName}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
                  <span style={{ width: `${pct}%` }} />
                </div>
                <div class="row tight">
                  <span class={`small grow clip ${failed(job) ? 'error' : 'muted'}`} title={statusText(job)} role={failed(job) ? 'alert' : undefined}>
                    {statusText(job)}
                  </span>
                  {cancellable && (
                    <button type="button" class="link danger small" aria-label={`Cancel ${job.frameName}`} onClick={() => onCancel(job.jobId)}>
                      Cancel
                    </button>
                  )}
                </div>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
