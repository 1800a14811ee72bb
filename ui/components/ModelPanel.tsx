/**
 * Settings → Model: the model the companion runs (family, quantization, licence), the installed ones
 * with a switch, and the catalog with size, licence and whether it fits this computer; Download
 * shows progress and can be cancelled and resumed. Calls go through companion-client.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { CompanionError, type CompanionClient, type ModelsView, type PullJobView } from '../companion-client.ts';
import { byteSize, shorten } from '../format.ts';

interface Props {
  client: CompanionClient | null;
  connected: boolean;
  open: boolean;
  onToggle: (open: boolean) => void;
  /** Asks health again (the model's name, sizes and defaults change after a switch). */
  recheck: () => void;
}

/** How often the list is asked again while a switch waits for the running job. */
const SWITCH_POLL_MS = 500;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The memory planner's verdict for a catalog model on the companion's provider, with the least it needs there. */
function fitsText(m: ModelsView['catalog'][number], provider: string): string {
  if (!m.memory) return 'Memory needs not known yet for this family';
  const need = provider === 'cpu' ? `${byteSize(m.memory.cpu.ramBytes)} of memory` : `${byteSize(m.memory.gpu.gpuBytes)} of GPU memory`;
  if (m.fits === null) return `Needs at least ${need}; this computer's GPU memory is unknown`;
  return m.fits ? `Fits this computer (needs at least ${need})` : `Needs at least ${need}: more than this computer has`;
}

function pullStatus(job: PullJobView): string {
  if (job.state === 'failed') return job.error?.message ?? 'The download failed.';
  if (job.state === 'cancelled') return `Stopped at ${byteSize(job.doneBytes)} of ${byteSize(job.totalBytes)}. Resume continues from there.`;
  if (job.state === 'done') return job.installed ? `Installed as ${job.installed}.` : 'Downloaded.';
  if (job.state === 'queued') return 'Waiting for another download to finish…';
  if (job.phase === 'listing') return 'Asking the Hub for the files…';
  if (job.phase === 'converting') return 'Converting (weights are linked, not copied)…';
  const current = job.files.find((f) => f.state === 'fetching' || f.state === 'verifying');
  const what = current ? `${current.state === 'verifying' ? 'checking' : 'fetching'} ${shorten(current.path, 32)}` : 'fetching';
  return `${byteSize(job.doneBytes)} of ${byteSize(job.totalBytes)} · ${what}`;
}

export function ModelPanel({ client, connected, open, onToggle, recheck }: Props) {
  const [view, setView] = useState<ModelsView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pull, setPull] = useState<PullJobView | null>(null);
  const [busy, setBusy] = useState(false);
  const stream = useRef<AbortController | null>(null);

  async function load() {
    if (!client || !connected) return;
    try {
      const next = await client.models();
      setView(next);
      setError(null);
      return next;
    } catch (e) {
      setError(e instanceof CompanionError && e.code === 'models_unavailable' ? 'This companion cannot download or switch models.' : message(e));
      return null;
    }
  }

  useEffect(() => {
    if (!open) return;
    void load().then((next) => next && pickUpRunningPull());
  }, [open, client, connected]);
  useEffect(() => () => stream.current?.abort(), []);

  // a switch waits for the running job: ask again until it is done, then let health catch up
  useEffect(() => {
    if (!view?.switching) return;
    const timer = setTimeout(async () => {
      const next = await load();
      if (next && !next.switching) recheck();
    }, SWITCH_POLL_MS);
    return () => clearTimeout(timer);
  }, [view]);

  async function follow(job: PullJobView) {
    if (!client) return;
    setPull(job);
    stream.current?.abort();
    const controller = new AbortController();
    stream.current = controller;
    try {
      const end = await client.pullEvents(job.id, (event) => setPull(event.job), controller.signal);
      setPull(end.job);
      if (end.event === 'done') await load();
    } catch (e) {
      if (!controller.signal.aborted) setError(message(e));
    }
  }

  /** A pull started before this panel opened (another window, or the plugin closed and reopened): follow it. */
  async function pickUpRunningPull() {
    if (!client || pull) return;
    try {
      const running = (await client.modelPulls()).find((p) => p.state === 'running' || p.state === 'queued');
      if (running) await follow(running);
    } catch (e) {
      setError(message(e));
    }
  }

  async function download(model: string) {
    if (!client) return;
    setError(null);
    try {
      await follow(await client.pullModel(model));
    } catch (e) {
      setError(message(e));
    }
  }

  async function cancel() {
    if (!client || !pull) return;
    try {
      setPull(await client.cancelPull(pull.id));
    } catch (e) {
      setError(message(e));
    }
  }

  async function use(name: string) {
    if (!client) return;
    setBusy(true);
    try {
      await client.setActiveModel(name);
      // with no image running the switch is done at once; otherwise the poll below rechecks when it is
      const next = await load();
      if (next && !next.switching) recheck();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  }

  const active = view?.installed.find((m) => m.active) ?? null;
  const pulling = pull !== null && (pull.state === 'running' || pull.state === 'queued');
  const pct = pull ? Math.round(pull.progress * 100) : 0;

  return (
    <details id="model-settings" class="panel model" open={open} onToggle={(e) => onToggle(e.currentTarget.open)}>
      <summary>
        <h2>Model</h2>
      </summary>
      {!connected && <p class="muted">Connect to the companion to see and download models.</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {connected && view && (
        <div class="model-body">
          <p data-testid="active-model">
            {view.loaded.demo ? (
              <>
                Running the <strong>demo model</strong>: untrained, its images are abstract. Download a model below.
              </>
            ) : (
              <>
                Running <strong>{active?.label ?? view.loaded.model}</strong>
                {active?.family && ` · ${active.family}`}
                {active?.quantization && ` · ${active.quantization}`}
                {active?.licence && (
                  <>
                    {' · '}
                    <a href={active.licence.url} target="_blank" rel="noreferrer">
                      {active.licence.name}
                    </a>
                  </>
                )}
              </>
            )}
          </p>
          {view.switchError && (
            <p class="error" role="alert">
              {view.switchError}
            </p>
          )}
          {view.switching && (
            <p class="muted" role="status">
              Switching to {view.switching} once the running image is done; new images wait for it.
            </p>
          )}

          <h3>Installed</h3>
          {view.installed.length === 0 && <p class="muted">None yet.</p>}
          <ul class="model-list" aria-label="Installed models">
            {view.installed.map((m) => (
              <li key={m.name} class="row">
                <div class="grow">
                  <div class="name">{m.label}</div>
                  <div class="muted small">{[m.name, m.quantization, m.licence?.name].filter(Boolean).join(' · ')}</div>
                </div>
                {m.active ? (
                  <span class="pill">In use</span>
                ) : (
                  <button type="button" disabled={busy || view.switching !== null} aria-label={`Use ${m.label}`} onClick={() => void use(m.name)}>
                    Use
                  </button>
                )}
              </li>
            ))}
          </ul>

          <h3>Download</h3>
          <p class="muted small">
            This computer has {byteSize(view.memoryBytes)} of memory{view.gpuBytes === null ? '' : ` and ${byteSize(view.gpuBytes)} of GPU memory`}; what fits is judged on {view.fitsOn}.
          </p>
          {pull && (
            <div class="model-pull" data-testid="model-pull">
              <div class="row tight">
                <span class="name grow">{pull.model}</span>
                {pulling && (
                  <button type="button" class="link danger small" aria-label={`Cancel the download of ${pull.model}`} onClick={() => void cancel()}>
                    Cancel
                  </button>
                )}
                {(pull.state === 'cancelled' || pull.state === 'failed') && (
                  <button type="button" class="link small" aria-label={`Resume the download of ${pull.model}`} onClick={() => void download(pull.model)}>
                    Resume
                  </button>
                )}
              </div>
              <div class="bar" role="progressbar" aria-label={`Download of ${pull.model}`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
                <span style={{ width: `${pct}%` }} />
              </div>
              <p class={`small ${pull.state === 'failed' ? 'error' : 'muted'}`} role={pull.state === 'failed' ? 'alert' : 'status'}>
                {pullStatus(pull)}
              </p>
            </div>
          )}
          <ul class="model-list" aria-label="Model catalog">
            {view.catalog.map((m) => (
              <li key={m.name} class="row" data-model={m.name}>
                <div class="grow">
                  <div class="name">{m.label}</div>
                  <div class="muted small">
                    {m.downloadBytes === null ? 'size unknown' : byteSize(m.downloadBytes)} ·{' '}
                    <a href={m.licence.url} target="_blank" rel="noreferrer" title={m.licence.commercialUse}>
                      {m.licence.name}
                    </a>
                    {m.gated && ' · accept its licence on Hugging Face first'}
                  </div>
                  <div class={`small ${m.fits === false ? 'warning' : 'muted'}`}>{fitsText(m, view.fitsOn)}</div>
                </div>
                {m.installed ? (
                  <span class="muted small">Installed</span>
                ) : (
                  <button type="button" disabled={pulling} aria-label={`Download ${m.label}`} onClick={() => void download(m.name)}>
                    Download
                  </button>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </details>
  );
}

/** The Generate panel's note while only the demo model runs, pointing to Settings → Model. */
export function DemoModelNotice({ onOpen }: { onOpen: () => void }) {
  return (
    <p class="notice" data-testid="demo-notice">
      The companion runs only the <strong>demo model</strong>: its images are abstract colour fields.{' '}
      <button type="button" class="link" onClick={onOpen}>
        Get a real model
      </button>{' '}
      under Settings → Model.
    </p>
  );
}
