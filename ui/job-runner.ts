/**
 * Follows the jobs the main thread hands over. Every job goes to the companion at once, in order,
 * and the companion's queue runs them one at a time: there is no second queue here. Each job is
 * followed over SSE, its previews forwarded (at most one per PREVIEW_FORWARD_MS: each becomes a Figma
 * image and a fill edit), and once done its image is fetched, tiled and sent to the main thread. Only
 * that last part is serial, so that two images are never tiled at once. When the companion's queue is
 * full, the next submit waits until one of these jobs has ended (or a few seconds).
 */
import { PREVIEW_FORWARD_MS, type FrameJobBody, type ImageResult, type JobRequest, type JobState, type Placement, type ResultMeta } from '../runtime/contract/index.ts';
import { CompanionError, START_HINT, type CompanionClient, type JobEvent, type JobResultView, type JobView } from './companion-client.ts';
import { initUploadBytes } from './init-image.ts';
import { base64Bytes, tileImage } from './tile-image.ts';

/**
 * A frame's job: the companion's lifecycle (contract JobState: queued → running → done, or failed,
 * cancelled, interrupted), then the part that happens in Figma: `placing` once the image is tiled and
 * sent to the main thread, `placed` once it is on the frame (or `failed` when Figma refused it).
 * Before the companion has answered the submit, a job is `queued` without a position; a Refine or
 * Extend is `uploading` its picture before that.
 */
export type JobStage = 'uploading' | JobState | 'placing' | 'placed';

/** What the queue view shows for one frame's job. */
export interface JobProgress {
  jobId: string;
  nodeId: string;
  frameName: string;
  width: number;
  height: number;
  stage: JobStage;
  /** The user asked to cancel; the companion has not confirmed it yet. */
  cancelling: boolean;
  /** Place in the companion's queue (1 = next). */
  position: number | null;
  step: number;
  steps: number | null;
  etaMs: number | null;
  /** 0–1. */
  progress: number;
  previewUrl: string | null;
  /** Bytes of the picture uploaded so far, as [sent, total]; null when not uploading. */
  uploaded: [number, number] | null;
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
  /** ended() or result() was sent: the main thread knows how it ends. */
  settled: boolean;
  abort: AbortController | null;
  params: JobView['params'] | null;
  /** When the last preview went to the main thread (performance.now()). */
  previewSentAt: number | null;
}

const CANCELLED = 'Cancelled; the frame has its previous image back.';
/** How long a submit refused with queue_full waits before it tries again, unless one of our jobs ends first. */
const QUEUE_FULL_RETRY_MS = 5_000;

export const ACTIVE_STAGES: ReadonlySet<JobStage> = new Set(['uploading', 'queued', 'running', 'done', 'placing']);
export const CANCELLABLE: ReadonlySet<JobStage> = new Set(['uploading', 'queued', 'running']);

export class JobRunner {
  private entries: Entry[] = [];
  /** Submits go out one after another, so the companion queues them in the order they came. */
  private submitting: Promise<void> = Promise.resolve();
  /** One image at a time is fetched, tiled and sent to the main thread. */
  private placing: Promise<void> = Promise.resolve();
  /** Submits waiting for room in the companion's queue: woken when one of our jobs ends. */
  private waitingForRoom: Array<() => void> = [];

  constructor(
    private readonly client: () => CompanionClient | null,
    private readonly out: RunnerOutput,
    private readonly onChange: (jobs: JobProgress[]) => void,
  ) {}

  get jobs(): JobProgress[] {
    return this.entries.map((e) => e.view);
  }

  add(requests: readonly JobRequest[]): void {
    const added = requests.map((request): Entry => ({
      request,
      submitted: false,
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
        stage: 'queued',
        cancelling: false,
        position: null,
        step: 0,
        steps: request.body.steps ?? null,
        etaMs: null,
        progress: 0,
        previewUrl: null,
        uploaded: null,
        decoded: null,
        message: null,
        tiles: 0,
      },
    }));
    this.entries.push(...added);
    this.changed();
    for (const entry of added) this.submitting = this.submitting.then(() => this.submit(entry));
  }

  cancel(jobId: string): void {
    const entry = this.find(jobId);
    if (!entry || !CANCELLABLE.has(entry.view.stage) || entry.view.cancelling) return;
    this.update(entry, { cancelling: true });
    if (!entry.submitted) {
      // submit() cancels it: while uploading, before sending, or right after the companion answers
      entry.abort?.abort();
      return;
    }
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
    this.update(entry, { stage: 'placed', progress: 1, etaMs: null, message: `Placed ${where}.` });
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

  /** Uploads the job's picture if it has one, sends the job to the companion (waiting for room when its queue is full), then follows it. */
  private async submit(entry: Entry): Promise<void> {
    let body: FrameJobBody | null = null;
    for (;;) {
      if (entry.view.cancelling) return this.cancelled(entry); // never reached the companion
      const client = this.client();
      if (!client) return this.fail(entry, `Not connected to the companion. ${START_HINT}`);
      body ??= await this.upload(entry, client);
      if (!body) return; // the upload failed or was cancelled, and said so
      try {
        const view = await client.submit(body);
        entry.submitted = true;
        entry.params = view.params;
        this.update(entry, { position: view.position, steps: view.params.steps });
        void this.follow(entry, client);
        return;
      } catch (error) {
        if (!(error instanceof CompanionError && error.code === 'queue_full')) return this.fail(entry, error instanceof Error ? error.message : String(error));
        await new Promise<void>((resolve) => {
          this.waitingForRoom.push(resolve);
          setTimeout(resolve, QUEUE_FULL_RETRY_MS);
        });
      }
    }
  }

  /**
   * Refine and Extend: stitches, crops and uploads the picture (reporting bytes sent), and returns the
   * job body naming the upload; a job without a picture keeps its body. Null when the upload ended the
   * job (cancelled or failed; already reported).
   */
  private async upload(entry: Entry, client: CompanionClient): Promise<FrameJobBody | null> {
    const { body, init } = entry.request;
    if (!init) return body;
    const abort = new AbortController();
    entry.abort = abort;
    this.update(entry, { stage: 'uploading', uploaded: [0, 0] });
    try {
      const { bytes, type } = await initUploadBytes(init);
      // the picture's tiles can be tens of MB; the stitched bytes are all that is needed from here
      entry.request = { ...entry.request, init: undefined };
      if (abort.signal.aborted) throw new DOMException('The upload was cancelled.', 'AbortError');
      this.update(entry, { uploaded: [0, bytes.byteLength] });
      const upload = await client.upload(bytes, type, (sent, total) => this.update(entry, { uploaded: [sent, total] }), abort.signal);
      this.update(entry, { stage: 'queued', uploaded: null });
      return { ...body, init: upload.id, ...(init.strength === null ? {} : { strength: init.strength }), ...(init.keep ? { keep: init.keep } : {}) };
    } catch (error) {
      if (abort.signal.aborted) this.cancelled(entry);
      else this.fail(entry, `Could not upload the picture: ${error instanceof Error ? error.message : String(error)}`);
      return null;
    } finally {
      entry.abort = null;
    }
  }

  /** Follows a submitted job over SSE until it ends on the companion; a done job's image is placed in turn. */
  private async follow(entry: Entry, client: CompanionClient): Promise<void> {
    const id = entry.view.jobId;
    const abort = new AbortController();
    entry.abort = abort;
    if (entry.view.cancelling) void client.cancel(id).catch(() => abort.abort());
    try {
      const terminal = await client.stream(id, (event) => this.onEvent(entry, event), abort.signal);
      // finished before the cancel reached the companion (it answers 409): the user asked for the old image
      if (terminal.event === 'done' && entry.view.cancelling) this.cancelled(entry, 'Cancelled after it finished; see Recent images.');
      else if (terminal.event === 'done') {
        this.update(entry, { stage: 'done', etaMs: null, progress: terminal.progress });
        this.placing = this.placing.then(() => this.place(entry, client, terminal.result));
      } else if (terminal.event === 'cancelled') this.cancelled(entry);
      else if (terminal.event === 'failed' || terminal.event === 'interrupted') this.fail(entry, terminal.error.message, terminal.event);
    } catch (error) {
      if (abort.signal.aborted) this.cancelled(entry);
      else this.fail(entry, error instanceof Error ? error.message : String(error));
    } finally {
      for (const wake of this.waitingForRoom.splice(0)) wake();
    }
  }

  private onEvent(entry: Entry, event: JobEvent): void {
    switch (event.event) {
      case 'queued':
        this.update(entry, { stage: 'queued', position: event.position, progress: event.progress });
        break;
      case 'started':
        this.update(entry, { stage: 'running', position: 0 });
        break;
      case 'progress':
        this.update(entry, { stage: 'running', position: 0, step: event.step, steps: event.steps, etaMs: event.etaMs, progress: event.progress });
        break;
      case 'decoding':
        this.update(entry, { stage: 'running', decoded: [event.tile, event.tiles], etaMs: null, progress: event.progress });
        break;
      case 'preview': {
        this.update(entry, { previewUrl: `data:image/png;base64,${event.png}` });
        const now = performance.now();
        if (entry.settled || entry.view.cancelling || (entry.previewSentAt !== null && now - entry.previewSentAt < PREVIEW_FORWARD_MS)) break;
        entry.previewSentAt = now;
        this.out.preview(entry.view.jobId, base64Bytes(event.png));
        break;
      }
      default:
        break;
    }
  }

  /** Fetches and tiles a done job's image and hands it to the main thread (one job at a time). */
  private async place(entry: Entry, client: CompanionClient, result: JobResultView): Promise<void> {
    if (entry.settled) return;
    try {
      const { meta, image } = await loadResult(client, entry.view.jobId, result, entry.params, entry.request.body.prompt);
      this.update(entry, { stage: 'placing', tiles: image.tiles.length });
      entry.settled = true;
      this.out.result(entry.view.jobId, meta, image);
    } catch (error) {
      this.fail(entry, error instanceof Error ? error.message : String(error));
    }
  }

  private cancelled(entry: Entry, message = CANCELLED): void {
    this.update(entry, { stage: 'cancelled', cancelling: false, etaMs: null, message });
    this.settle(entry, 'cancelled', 'Cancelled.');
  }

  private fail(entry: Entry, message: string, stage: 'failed' | 'interrupted' = 'failed'): void {
    this.update(entry, { stage, cancelling: false, etaMs: null, message });
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
