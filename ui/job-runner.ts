/**
 * Runs the jobs the main thread hands over: one at a time (the companion runs one at a time too),
 * each submitted, followed over SSE, its previews forwarded (at most one per PREVIEW_FORWARD_MS: each
 * becomes a Figma image and a fill edit), its image fetched, tiled and sent to the main thread. The
 * next job is submitted once the previous image is tiled, so that two images are never tiled at once.
 */
import { PREVIEW_FORWARD_MS, type ImageResult, type JobRequest, type Placement, type ResultMeta } from '../plugin/messages.ts';
import { CompanionError, START_HINT, type CompanionClient, type JobEvent, type JobResultView, type JobView } from './companion-client.ts';
import { base64Bytes, tileImage } from './tile-image.ts';

export type JobStage = 'waiting' | 'queued' | 'running' | 'cancelling' | 'fetching' | 'placing' | 'done' | 'cancelled' | 'failed';

/** What the queue view shows for one frame's job. */
export interface JobProgress {
  jobId: string;
  nodeId: string;
  frameName: string;
  width: number;
  height: number;
  stage: JobStage;
  /** Place in the companion's queue (1 = next). */
  position: number | null;
  step: number;
  steps: number | null;
  etaMs: number | null;
  /** 0–1. */
  progress: number;
  previewUrl: string | null;
  /** VAE tiles decoded so far after the last step, as [done, total]; null before decoding starts. */
  decoded: [number, number] | null;
  /** The outcome in words once finished. */
  message: string | null;
  tiles: number;
}

/** Where the runner reports to: the main thread. */
export interface RunnerOutput {
  preview(jobId: string, png: Uint8Array): void;
  result(jobId: string, meta: ResultMeta, image: ImageResult): void;
  ended(jobId: string, outcome: 'cancelled' | 'failed', message: string): void;
}

interface Entry {
  request: JobRequest;
  view: JobProgress;
  submitted: boolean;
  cancelRequested: boolean;
  /** ended() or result() was sent: the main thread knows how it ends. */
  settled: boolean;
  abort: AbortController | null;
  params: JobView['params'] | null;
  /** When the last preview went to the main thread (performance.now()). */
  previewSentAt: number | null;
}

const CANCELLED = 'Cancelled; the frame has its previous image back.';

export const ACTIVE_STAGES: ReadonlySet<JobStage> = new Set(['waiting', 'queued', 'running', 'cancelling', 'fetching', 'placing']);
const CANCELLABLE: ReadonlySet<JobStage> = new Set(['waiting', 'queued', 'running']);

export class JobRunner {
  private entries: Entry[] = [];
  private pumping = false;

  constructor(
    private readonly client: () => CompanionClient | null,
    private readonly out: RunnerOutput,
    private readonly onChange: (jobs: JobProgress[]) => void,
  ) {}

  get jobs(): JobProgress[] {
    return this.entries.map((e) => e.view);
  }

  add(requests: readonly JobRequest[]): void {
    for (const request of requests) {
      this.entries.push({
        request,
        submitted: false,
        cancelRequested: false,
        settled: false,
        abort: null,
        params: null,
        previewSentAt: null,
        view: {
          jobId: request.jobId,
          nodeId: request.nodeId,
          frameName: request.frameName,
          width: request.body.width,
          height: request.body.height,
          stage: 'waiting',
          position: null,
          step: 0,
          steps: request.body.steps ?? null,
          etaMs: null,
          progress: 0,
          previewUrl: null,
          decoded: null,
          message: null,
          tiles: 0,
        },
      });
    }
    this.changed();
    void this.pump();
  }

  cancel(jobId: string): void {
    const entry = this.find(jobId);
    if (!entry || !CANCELLABLE.has(entry.view.stage)) return;
    if (entry.view.stage === 'waiting') {
      this.cancelled(entry);
      return;
    }
    entry.cancelRequested = true;
    this.update(entry, { stage: 'cancelling' });
    if (!entry.submitted) return; // run() cancels it right after the submit answers
    const client = this.client();
    // the stream delivers "cancelled"; if the companion cannot be reached, stop listening and restore
    void client?.cancel(jobId).catch((error: unknown) => {
      if (error instanceof CompanionError && error.kind !== 'rejected') entry.abort?.abort();
    });
    if (!client) entry.abort?.abort();
  }

  cancelAll(): void {
    for (const entry of [...this.entries].reverse()) this.cancel(entry.view.jobId);
  }

  clearFinished(): void {
    this.entries = this.entries.filter((e) => ACTIVE_STAGES.has(e.view.stage));
    this.changed();
  }

  /** The main thread placed the image. */
  applied(jobId: string, placement: Placement, frameName: string): void {
    const entry = this.find(jobId);
    if (!entry) return;
    const where = placement === 'frame' ? `in “${frameName}”` : placement === 'beside' ? `in “${frameName}” (the frame was resized)` : 'in a new frame (the frame was deleted)';
    this.update(entry, { stage: 'done', progress: 1, etaMs: null, message: `Placed ${where}.` });
  }

  /** The main thread could not place the image (it has already restored the frame). */
  failedInFigma(jobId: string, message: string): void {
    const entry = this.find(jobId);
    if (entry) this.update(entry, { stage: 'failed', message });
  }

  private find(jobId: string): Entry | undefined {
    return this.entries.find((e) => e.view.jobId === jobId);
  }

  private changed(): void {
    this.onChange(this.entries.map((e) => ({ ...e.view })));
  }

  private update(entry: Entry, patch: Partial<JobProgress>): void {
    Object.assign(entry.view, patch);
    this.changed();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let next = this.nextWaiting(); next; next = this.nextWaiting()) await this.run(next);
    } finally {
      this.pumping = false;
    }
  }

  private nextWaiting(): Entry | undefined {
    return this.entries.find((e) => e.view.stage === 'waiting');
  }

  private async run(entry: Entry): Promise<void> {
    const client = this.client();
    const id = entry.view.jobId;
    if (!client) {
      this.fail(entry, `Not connected to the companion. ${START_HINT}`);
      return;
    }
    const abort = new AbortController();
    entry.abort = abort;
    this.update(entry, { stage: 'queued' });
    try {
      const view = await client.submit(entry.request.body);
      entry.submitted = true;
      entry.params = view.params;
      this.update(entry, { position: view.position, steps: view.params.steps });
      if (entry.cancelRequested) void client.cancel(id).catch(() => abort.abort());
      const terminal = await client.stream(id, (event) => this.onEvent(entry, event), abort.signal);
      // finished before the cancel reached the companion (it answers 409): the user asked for the old image
      if (terminal.event === 'done' && entry.cancelRequested) this.cancelled(entry, 'Cancelled after it finished; see Recent images.');
      else if (terminal.event === 'done') await this.finish(entry, client, terminal.result);
      else if (terminal.event === 'cancelled') this.cancelled(entry);
      else if (terminal.event === 'failed' || terminal.event === 'interrupted') this.fail(entry, terminal.error.message);
    } catch (error) {
      if (abort.signal.aborted) this.cancelled(entry);
      else this.fail(entry, error instanceof Error ? error.message : String(error));
    }
  }

  private onEvent(entry: Entry, event: JobEvent): void {
    const cancelling = entry.view.stage === 'cancelling';
    switch (event.event) {
      case 'queued':
        this.update(entry, { position: event.position, progress: event.progress });
        break;
      case 'started':
        this.update(entry, { stage: cancelling ? 'cancelling' : 'running', position: 0 });
        break;
      case 'progress':
        this.update(entry, { stage: cancelling ? 'cancelling' : 'running', position: 0, step: event.step, steps: event.steps, etaMs: event.etaMs, progress: event.progress });
        break;
      case 'decoding':
        this.update(entry, { stage: cancelling ? 'cancelling' : 'running', decoded: [event.tile, event.tiles], etaMs: null, progress: event.progress });
        break;
      case 'preview': {
        this.update(entry, { previewUrl: `data:image/png;base64,${event.png}` });
        const now = performance.now();
        if (entry.settled || cancelling || (entry.previewSentAt !== null && now - entry.previewSentAt < PREVIEW_FORWARD_MS)) break;
        entry.previewSentAt = now;
        this.out.preview(entry.view.jobId, base64Bytes(event.png));
        break;
      }
      default:
        break;
    }
  }

  private async finish(entry: Entry, client: CompanionClient, result: JobResultView): Promise<void> {
    try {
      this.update(entry, { stage: 'fetching', etaMs: null });
      const { meta, image } = await loadResult(client, entry.view.jobId, result, entry.params, entry.request.body.prompt);
      this.update(entry, { stage: 'placing', tiles: image.tiles.length });
      entry.settled = true;
      this.out.result(entry.view.jobId, meta, image);
    } catch (error) {
      this.fail(entry, error instanceof Error ? error.message : String(error));
    }
  }

  private cancelled(entry: Entry, message = CANCELLED): void {
    this.update(entry, { stage: 'cancelled', etaMs: null, message });
    this.settle(entry, 'cancelled', 'Cancelled.');
  }

  private fail(entry: Entry, message: string): void {
    this.update(entry, { stage: 'failed', etaMs: null, message });
    this.settle(entry, 'failed', message);
  }

  private settle(entry: Entry, outcome: 'cancelled' | 'failed', message: string): void {
    if (entry.settled) return;
    entry.settled = true;
    this.out.ended(entry.view.jobId, outcome, message);
  }
}

/** Fetches a finished job's image, tiles it when it is above 4096 px, and describes it for the main thread. */
export async function loadResult(
  client: CompanionClient,
  jobId: string,
  result: JobResultView,
  params: JobView['params'] | null,
  prompt: string,
): Promise<{ meta: ResultMeta; image: ImageResult }> {
  const { bytes, mimeType } = await client.image(jobId);
  const image = await tileImage(bytes, mimeType, result.width, result.height);
  const meta: ResultMeta = {
    jobId,
    prompt: params?.prompt ?? prompt,
    seed: result.seed,
    steps: result.steps,
    guidance: params?.guidance ?? null,
    dypeScale: params?.dypeScale ?? null,
    dypeExponent: params?.dypeExponent ?? null,
    method: result.method,
    format: result.format,
    model: result.model,
  };
  return { meta, image };
}
