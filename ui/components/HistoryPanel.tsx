import { useEffect, useState } from 'preact/hooks';
import type { CompanionClient, JobView } from '../companion-client.ts';
import { shorten } from '../format.ts';

interface Props {
  client: CompanionClient | null;
  connected: boolean;
  /** Frames are selected (re-apply needs a target). */
  canApply: boolean;
  /** Changes when a job finishes, to reload the list. */
  refreshKey: number;
  onApply: (job: JobView) => Promise<void>;
}

/** Recent finished images from GET /v1/jobs; each can be applied again to the selected frames. */
export function HistoryPanel({ client, connected, canApply, refreshKey, onApply }: Props) {
  const [open, setOpen] = useState(false);
  const [jobs, setJobs] = useState<JobView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [applying, setApplying] = useState<string | null>(null);

  async function load() {
    if (!client || !connected) return;
    try {
      setJobs((await client.list(20)).filter((j) => j.state === 'done' && j.result));
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  useEffect(() => {
    if (open) void load();
  }, [open, client, connected, refreshKey]);

  async function apply(job: JobView) {
    setApplying(job.id);
    try {
      await onApply(job);
    } finally {
      setApplying(null);
    }
  }

  return (
    <details class="panel history" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        <h2>Recent images</h2>
      </summary>
      {!connected && <p class="muted">Connect to the companion to see its recent images.</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {connected && jobs?.length === 0 && <p class="muted">No finished images yet.</p>}
      {connected && jobs && jobs.length > 0 && (
        <ul class="history-list">
          {jobs.map((job) => (
            <li key={job.id} class="row">
              {/* the companion has only the full-size image: decode it off the main thread, when it scrolls into view, at thumbnail size */}
              <img class="thumb" src={client!.imageUrl(job.id)} alt="" loading="lazy" decoding="async" width={40} height={40} />
              <div class="grow">
                <div class="name" title={job.params.prompt}>
                  {shorten(job.params.prompt, 48)}
                </div>
                <div class="muted small">
                  {job.result!.width} × {job.result!.height} px · seed {job.result!.seed} · {job.result!.method}
                </div>
              </div>
              <button type="button" disabled={!canApply || applying !== null} aria-label={`Apply “${shorten(job.params.prompt, 40)}” to the selection`} onClick={() => void apply(job)}>
                {applying === job.id ? 'Applying…' : 'Apply'}
              </button>
            </li>
          ))}
        </ul>
      )}
      {connected && (
        <button type="button" class="link" onClick={() => void load()}>
          Refresh
        </button>
      )}
    </details>
  );
}
