/** The UI: state, handlers and layout. Panels render state and emit intents; the companion is reached through companion-client. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FrameInfo, SelectionState, Settings } from '../runtime/contract/index.ts';
import type { ConnectionStatus, JobView } from './companion-client.ts';
import { ConnectionPanel } from './components/ConnectionPanel.tsx';
import { GeneratePanel } from './components/GeneratePanel.tsx';
import { HistoryPanel } from './components/HistoryPanel.tsx';
import { DemoModelNotice, ModelPanel } from './components/ModelPanel.tsx';
import { OutdatedPanel } from './components/OutdatedPanel.tsx';
import { QueuePanel } from './components/QueuePanel.tsx';
import { emit, on } from './events.ts';
import { randomSeed } from './format.ts';
import { ACTIVE_STAGES, JobRunner, loadResult, type JobProgress } from './job-runner.ts';
import { useConnection } from './use-connection.ts';

const PILL: Record<ConnectionStatus, string> = {
  checking: 'Checking…',
  connected: 'Connected',
  unpaired: 'Not paired',
  'wrong-token': 'Not paired',
  'not-running': 'Offline',
  blocked: 'No access',
  incompatible: 'Incompatible',
  'not-allowed': 'Blocked',
};

const EMPTY_SELECTION: SelectionState = { frames: [], newFrame: null, skipped: 0 };
/** Typing is saved to clientStorage this long after the last key. */
const SAVE_DELAY_MS = 400;

/** Opens Settings → Model and brings it into view. */
function openModelSettings(setOpen: (open: boolean) => void): void {
  setOpen(true);
  requestAnimationFrame(() => document.getElementById('model-settings')?.scrollIntoView({ block: 'start' }));
}

export function App() {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [selection, setSelection] = useState<SelectionState>(EMPTY_SELECTION);
  const [outdated, setOutdated] = useState<FrameInfo[]>([]);
  const [jobs, setJobs] = useState<JobProgress[]>([]);
  const [relaunch, setRelaunch] = useState<string[] | null>(null);
  const [testOrigins, setTestOrigins] = useState<readonly string[]>([]);
  const [modelOpen, setModelOpen] = useState(false);
  const { client, connection, recheck } = useConnection(settings?.companionUrl ?? null, settings?.token ?? null, testOrigins);
  const clientRef = useRef(client);
  clientRef.current = client;
  const pending = useRef<{ patch: Partial<Settings>; timer: ReturnType<typeof setTimeout> | undefined }>({ patch: {}, timer: undefined });

  const runner = useMemo(
    () =>
      new JobRunner(
        () => clientRef.current,
        {
          preview: (jobId, png) => emit('job-preview', { jobId, png }),
          result: (jobId, meta, image) => emit('job-result', { jobId, meta, image }),
          ended: (jobId, outcome, message) => emit('job-ended', { jobId, outcome, message }),
        },
        setJobs,
      ),
    [],
  );

  useEffect(() => {
    const off = [
      on('settings', (m) => {
        setSettings(m.settings);
        setTestOrigins(m.testOrigins ?? []);
      }),
      on('selection', (m) => setSelection(m.selection)),
      on('outdated', (m) => setOutdated(m.frames)),
      on('start-jobs', (m) => runner.add(m.jobs)),
      on('job-applied', (m) => runner.applied(m.jobId, m.placement, m.frameName)),
      on('job-failed', (m) => runner.failedInFigma(m.jobId, m.message)),
      on('relaunch', (m) => setRelaunch(m.nodeIds)),
    ];
    emit('ready', {});
    return () => off.forEach((f) => f());
  }, [runner]);

  const connected = connection.status === 'connected';
  const health = connection.health;

  // the main thread sizes frames with the companion's limits
  const limitsKey = health ? `${health.minSide}/${health.maxSide}/${health.maxPixels}/${health.nativeResolution}` : '';
  useEffect(() => {
    emit('limits', { limits: health ? { minSide: health.minSide, maxSide: health.maxSide, maxPixels: health.maxPixels, nativeSide: health.nativeResolution } : null });
  }, [limitsKey]);

  // a Regenerate relaunch button runs once the companion is reachable
  useEffect(() => {
    if (relaunch && connected) {
      if (relaunch.length > 0) emit('regenerate', { nodeIds: relaunch, action: health?.imageToImage === false ? 'reimagine' : null, strength: settings?.strength ?? null });
      setRelaunch(null);
    }
  }, [relaunch, connected]);

  function update(patch: Partial<Settings>) {
    setSettings((s) => (s ? { ...s, ...patch } : s));
    const p = pending.current;
    p.patch = { ...p.patch, ...patch };
    clearTimeout(p.timer);
    const flush = () => {
      emit('save-settings', { patch: p.patch });
      p.patch = {};
    };
    // typing waits a little; everything else (density changes the sizes shown) is saved at once
    if (Object.keys(patch).every((k) => k === 'prompt')) p.timer = setTimeout(flush, SAVE_DELAY_MS);
    else flush();
  }

  function generate() {
    if (!settings) return;
    const seed = settings.seedLocked ? settings.seed : randomSeed();
    if (seed !== settings.seed) update({ seed });
    const { prompt, method, steps, guidance, dypeScale, dypeExponent, format, density, action, upscale, strength } = settings;
    emit('generate', { params: { prompt: prompt.trim(), method, steps, guidance, dypeScale, dypeExponent, seed, format, density }, action, upscale, strength });
  }

  async function reapply(job: JobView) {
    if (!client || !job.result) return;
    try {
      const { meta, image } = await loadResult(client, job.id, job.result, job.params, job.params.prompt);
      emit('reapply', { meta, image });
    } catch (error) {
      emit('notify', { message: `Could not apply the image: ${error instanceof Error ? error.message : String(error)}`, error: true });
    }
  }

  if (!settings) return <main class="app loading">Loading…</main>;

  const active = jobs.filter((j) => ACTIVE_STAGES.has(j.stage));
  const busy = new Set(active.map((j) => j.nodeId));
  const doneCount = jobs.filter((j) => j.stage === 'placed').length;
  const hasTarget = selection.frames.length > 0 || selection.newFrame !== null;
  const hasPicture = selection.frames.some((f) => f.image !== null);
  // older companions do not say; a model without a VAE encoder cannot start from a picture
  const imageToImage = health?.imageToImage !== false;
  const blocked = !connected
    ? 'Connect to the companion first.'
    : settings.prompt.trim() === ''
      ? 'Type a prompt first.'
      : !hasTarget
        ? 'Select a frame, or select nothing to make a new one.'
        : settings.action !== 'reimagine' && !imageToImage
          ? `The companion’s model cannot start from a picture (it has no VAE encoder): choose Re-imagine.`
          : settings.action !== 'reimagine' && !hasPicture
            ? `Select a frame that shows a picture to ${settings.action}.`
            : null;

  return (
    <main class="app">
      <header class="row">
        <h1 class="grow">DyPE Fill</h1>
        <span class={`pill status-${connection.status}`} aria-hidden="true">
          {PILL[connection.status]}
        </span>
      </header>
      <ConnectionPanel
        url={settings.companionUrl}
        testOrigins={testOrigins}
        connection={connection}
        client={client}
        onUrl={(companionUrl) => update({ companionUrl })}
        onToken={(token) => update({ token })}
        recheck={recheck}
      />
      <ModelPanel client={client} connected={connected} open={modelOpen} onToggle={setModelOpen} recheck={recheck} />
      <GeneratePanel
        settings={settings}
        selection={selection}
        health={health}
        blocked={blocked}
        update={update}
        onGenerate={generate}
        notice={connected && health?.demo ? <DemoModelNotice onOpen={() => openModelSettings(setModelOpen)} /> : null}
      />
      {jobs.length > 0 && <QueuePanel jobs={jobs} onCancel={(id) => runner.cancel(id)} onCancelAll={() => runner.cancelAll()} onClear={() => runner.clearFinished()} />}
      {outdated.length > 0 && <OutdatedPanel frames={outdated} busy={busy} connected={connected} imageToImage={imageToImage} onRegenerate={(nodeIds, action) => emit('regenerate', { nodeIds, action, strength: settings.strength })} />}
      <HistoryPanel client={client} connected={connected} canApply={selection.frames.length > 0} refreshKey={doneCount} onApply={reapply} />
    </main>
  );
}
