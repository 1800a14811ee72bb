/**
 * The job queue: submit returns job records, subscribe gives a stream of events, cancel and close
 * stop work. One job runs at a time; the others wait in FIFO order. It knows nothing about HTTP.
 */
import type { GenerateEvent, GenerateRequest, GenerateResult, PreviewImage } from '../pipeline/types.ts';
import type { Engine } from './engine.ts';
import { JOB_ERRORS, type JobError } from '../contract/index.ts';
import { isTerminal, type JobParams, type JobState, type JobRecord, type JobStore } from './jobs.ts';
import { DECODE_END, STEP_SHARE, terminalEvent, toJobView, type JobEvent, type JobView } from './protocol.ts';

/** Why the queue refused: a domain outcome, which the HTTP layer maps to a status (handlers/envelope.ts). */
export type QueueErrorCode = 'job_not_found' | 'job_conflict' | 'job_not_cancellable' | 'queue_full' | 'shutting_down' | 'storage_error';

export class QueueError extends Error {
  constructor(
    readonly code: QueueErrorCode,
    message: string,
    /** The request field it is about (a client id). */
    readonly field?: string,
    /** When trying again may work. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'QueueError';
  }
}

/** States a client id can be resubmitted from: the job ended without an image. */
const RETRYABLE: ReadonlySet<JobState> = new Set(['failed', 'cancelled', 'interrupted']);

export type JobListener = (event: JobEvent) => void;

export interface JobSpec {
  /** Client-chosen id, or undefined for a fresh one. */
  id?: string;
  params: JobParams;
  /**
   * The params again, from the engine's defaults as they are when the job starts: a model switch
   * between submit and start changes them (steps, guidance, size). Absent: `params` stay.
   */
  resolve?: () => JobParams;
  request: Record<string, unknown>;
  source: JobRecord['source'];
}

export interface QueueOptions {
  engine: Engine;
  store: JobStore;
  /** Most jobs waiting behind the running one. */
  maxQueue: number;
  /** At most one preview per job per this many ms; the engine is asked for no others. */
  previewIntervalMs: number;
  /** How long a cancel or close waits for the running job to stop. */
  stopTimeoutMs: number;
  newId: () => string;
  log: (message: string) => void;
  /** The bytes of a job's `init` (an upload or a finished job's image), read when the job starts. */
  readInit?: (id: string) => Promise<Uint8Array>;
}

interface Job {
  record: JobRecord;
  listeners: Set<JobListener>;
  controller: AbortController | null;
  stopReason: 'cancel' | 'shutdown' | null;
  lastProgress: JobEvent | null;
  lastPreview: JobEvent | null;
  lastPreviewAt: number;
  resolve: (() => JobParams) | null;
  /** Resolves when the job reaches a terminal state. */
  finished: Promise<void>;
  markFinished: () => void;
}

export class JobQueue {
  private readonly jobs = new Map<string, Job>();
  /** Every job, oldest first (createdAt is strictly increasing), so listing newest first is O(limit). */
  private readonly order: Job[] = [];
  private readonly waiting: Job[] = [];
  private running: Job | null = null;
  private lastCreated = 0;
  private closed = false;

  constructor(private readonly opts: QueueOptions) {}

  /** Adds records loaded from disk (all terminal), before any submit. */
  load(records: JobRecord[]): void {
    const sorted = [...records].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    for (const record of sorted) this.add(this.makeJob(record));
    const newest = Date.parse(sorted.at(-1)?.createdAt ?? '');
    if (Number.isFinite(newest)) this.lastCreated = newest;
  }

  get stats(): { running: number; waiting: number; capacity: number; listeners: number } {
    let listeners = 0;
    for (const job of this.jobs.values()) listeners += job.listeners.size;
    return { running: this.running ? 1 : 0, waiting: this.waiting.length, capacity: this.opts.maxQueue, listeners };
  }

  /**
   * Accepts all specs or none. A spec whose id exists with the same request returns that job
   * (`created: false`); with a different request it is a `job_conflict`. A job that ended without an
   * image (failed, cancelled, interrupted) is replaced: its id can be retried. New jobs need room in the queue.
   */
  async submit(specs: JobSpec[]): Promise<Array<{ job: JobView; created: boolean }>> {
    if (this.closed) throw new QueueError('shutting_down', 'The companion is shutting down.');
    const plan = specs.map((spec) => {
      const found = spec.id === undefined ? undefined : this.jobs.get(spec.id);
      const existing = found && RETRYABLE.has(found.record.state) ? undefined : found;
      if (existing && (canonical(existing.record.request) !== canonical(spec.request) || existing.record.source !== spec.source)) {
        throw new QueueError('job_conflict', `Job "${spec.id}" already exists with different parameters; pick a new id.`, 'id');
      }
      return { spec, existing };
    });
    const freshCount = plan.filter((p) => !p.existing).length;
    if (freshCount > 0) this.requireRoom(freshCount);
    const created: Job[] = [];
    const outcomes = plan.map(({ spec, existing }) => {
      if (existing) return { job: existing, created: false };
      const job = this.makeJob({
        id: spec.id ?? this.opts.newId(),
        state: 'queued',
        params: spec.params,
        request: spec.request,
        source: spec.source,
        createdAt: this.nextCreatedAt(),
        startedAt: null,
        finishedAt: null,
        progress: 0,
        step: 0,
        error: null,
        result: null,
      }, spec.resolve);
      this.add(job);
      this.waiting.push(job);
      created.push(job);
      return { job, created: true };
    });
    // save() snapshots synchronously: these are the queued states, written before any started state
    const pending = created.map((job) => this.opts.store.save(job.record));
    this.pump();
    const saves = await Promise.allSettled(pending);
    const failed = saves.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      for (const job of created) this.discard(job);
      this.opts.log(`could not save job records: ${errorMessage(failed.reason)}`);
      throw new QueueError('storage_error', `The job could not be saved to the data folder: ${errorMessage(failed.reason)}`);
    }
    return outcomes.map((o) => ({ job: this.view(o.job), created: o.created }));
  }

  /** The `init` of every queued and running job: images that must still exist when their job starts. */
  initsInUse(): Set<string> {
    const jobs = this.running ? [this.running, ...this.waiting] : this.waiting;
    return new Set(jobs.flatMap((job) => (job.record.params.init === undefined ? [] : [job.record.params.init])));
  }

  /** Throws queue_full unless `count` new jobs fit in the queue now. */
  requireRoom(count: number): void {
    if (this.waiting.length + count > this.opts.maxQueue) {
      throw new QueueError('queue_full', `The queue is full (${this.waiting.length} waiting, at most ${this.opts.maxQueue}); try again later.`, undefined, 5);
    }
  }

  get(id: string): JobView | null {
    const job = this.jobs.get(id);
    return job ? this.view(job) : null;
  }

  record(id: string): JobRecord | null {
    return this.jobs.get(id)?.record ?? null;
  }

  /** Newest first. */
  list(limit: number): JobView[] {
    const views: JobView[] = [];
    for (let i = this.order.length - 1; i >= 0 && views.length < limit; i--) views.push(this.view(this.order[i]));
    return views;
  }

  /**
   * Calls `listener` with the current state first (queued + position; started + last progress and
   * preview; or the terminal event), then with every new event. Returns the unsubscribe function.
   */
  subscribe(id: string, listener: JobListener): () => void {
    const job = this.jobs.get(id);
    if (!job) throw new QueueError('job_not_found', `No job "${id}".`);
    const replay: JobEvent[] = [];
    const { record } = job;
    const base = { jobId: id, state: record.state, progress: record.progress };
    if (record.state === 'queued') replay.push({ ...base, event: 'queued', position: this.position(job) ?? 1 });
    if (record.state === 'running') {
      replay.push({ ...base, event: 'started' });
      if (job.lastProgress) replay.push(job.lastProgress);
      if (job.lastPreview) replay.push(job.lastPreview);
    }
    const terminal = terminalEvent(record);
    if (terminal) replay.push(terminal);
    for (const event of replay) safeCall(listener, event, this.opts.log);
    if (terminal) return () => {};
    job.listeners.add(listener);
    return () => job.listeners.delete(listener);
  }

  /** Resolves with the job once it is terminal. */
  async wait(id: string): Promise<JobView> {
    const job = this.jobs.get(id);
    if (!job) throw new QueueError('job_not_found', `No job "${id}".`);
    await job.finished;
    return this.view(job);
  }

  /**
   * Queued: taken out of the queue. Running: aborted, and this waits (bounded) until the engine has
   * stopped, so the answer is the final state. Already cancelled: unchanged.
   */
  async cancel(id: string): Promise<JobView> {
    const job = this.jobs.get(id);
    if (!job) throw new QueueError('job_not_found', `No job "${id}".`);
    const { state } = job.record;
    if (state === 'queued') {
      this.waiting.splice(this.waiting.indexOf(job), 1);
      await this.finish(job, 'cancelled', {});
      this.emitPositions();
    } else if (state === 'running') {
      job.stopReason ??= 'cancel';
      job.controller?.abort(new DOMException('Cancelled by the user', 'AbortError'));
      await Promise.race([job.finished, delay(this.opts.stopTimeoutMs)]);
    } else if (state !== 'cancelled') {
      throw new QueueError('job_not_cancellable', `Job "${id}" has already finished (${state}).`);
    }
    return this.view(job);
  }

  /** Stops taking jobs; queued and running jobs become `interrupted`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const message = 'The companion shut down before this job finished.';
    for (const job of this.waiting.splice(0)) {
      await this.finish(job, 'interrupted', { error: { code: 'interrupted', message } });
    }
    const running = this.running;
    if (running) {
      running.stopReason = 'shutdown';
      running.controller?.abort(new DOMException('The companion is shutting down', 'AbortError'));
      await Promise.race([running.finished, delay(this.opts.stopTimeoutMs)]);
      if (!isTerminal(running.record.state)) await this.finish(running, 'interrupted', { error: { code: 'interrupted', message } });
    }
    await this.opts.store.flush();
  }

  /** Strictly increasing, so createdAt alone orders jobs, also after a restart. */
  private nextCreatedAt(): string {
    this.lastCreated = Math.max(Date.now(), this.lastCreated + 1);
    return new Date(this.lastCreated).toISOString();
  }

  private makeJob(record: JobRecord, refill?: JobSpec['resolve']): Job {
    let markFinished!: () => void;
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    if (isTerminal(record.state)) markFinished();
    return { record, listeners: new Set(), controller: null, stopReason: null, lastProgress: null, lastPreview: null, lastPreviewAt: 0, resolve: refill ?? null, finished, markFinished };
  }

  private view(job: Job): JobView {
    return toJobView(job.record, this.position(job));
  }

  private position(job: Job): number | null {
    if (job.record.state === 'running') return 0;
    if (job.record.state !== 'queued') return null;
    return this.waiting.indexOf(job) + 1;
  }

  /** Adds a job; a retry replaces the ended job with its id. */
  private add(job: Job): void {
    const replaced = this.jobs.get(job.record.id);
    if (replaced) this.order.splice(this.order.indexOf(replaced), 1);
    this.jobs.set(job.record.id, job);
    this.order.push(job);
  }

  /** Drops a job whose initial save failed, as if it had never been accepted. */
  private discard(job: Job): void {
    const at = this.order.lastIndexOf(job);
    if (at >= 0) this.order.splice(at, 1);
    const index = this.waiting.indexOf(job);
    if (index >= 0) this.waiting.splice(index, 1);
    if (this.running === job) {
      job.stopReason = 'cancel';
      job.controller?.abort();
    }
    this.jobs.delete(job.record.id);
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.running = job;
    void this.run(job)
      .catch((error: unknown) => this.opts.log(`job ${job.record.id}: ${errorMessage(error)}`))
      .finally(() => {
        this.running = null;
        this.pump();
      });
  }

  private async run(job: Job): Promise<void> {
    const { record } = job;
    const controller = new AbortController();
    job.controller = controller;
    record.state = 'running';
    record.startedAt = new Date().toISOString();
    this.emit(job, { event: 'started', jobId: record.id, state: record.state, progress: record.progress });
    this.emitPositions();
    this.persist(job);

    let result: GenerateResult | null = null;
    let failure: JobError | null = null;
    try {
      if (job.resolve) {
        await this.opts.engine.ready?.();
        record.params = job.resolve();
        this.persist(job);
      }
      result = await this.opts.engine.generate(await this.toGenerateRequest(record.params), {
        signal: controller.signal,
        onEvent: (event) => this.onEngineEvent(job, event),
      });
      if (!(result?.image instanceof Uint8Array) || result.image.byteLength === 0) {
        throw new Error('The engine returned no image bytes.');
      }
    } catch (error) {
      result = null;
      if (!controller.signal.aborted) failure = { code: 'engine_error', message: errorMessage(error) };
    }
    if (isTerminal(record.state) || !this.jobs.has(record.id)) return; // closed or discarded meanwhile

    if (result) {
      try {
        const file = await this.opts.store.writeImage(record.id, record.params.format, result.image);
        const { image, ...meta } = result;
        const applied = await this.finish(job, 'done', { result: { file, bytes: image.byteLength, ...meta, format: record.params.format } });
        // shut down while the image was written: the job is interrupted, and its image no one's
        if (!applied) await this.opts.store.removeImage(file);
        return;
      } catch (error) {
        failure = { code: 'write_failed', message: `${JOB_ERRORS.write_failed} ${errorMessage(error)}` };
      }
    }
    if (failure) await this.finish(job, 'failed', { error: failure });
    else if (job.stopReason === 'shutdown') await this.finish(job, 'interrupted', { error: { code: 'interrupted', message: 'The companion shut down before this job finished.' } });
    else await this.finish(job, 'cancelled', {});
  }

  /** Engine events become job events; previews are drawn only as often as the throttle allows. */
  private onEngineEvent(job: Job, event: GenerateEvent): void {
    const { record } = job;
    if (record.state !== 'running' || job.controller?.signal.aborted) return;
    if (event.kind === 'decode') {
      record.progress = STEP_SHARE + ((DECODE_END - STEP_SHARE) * event.tile) / Math.max(1, event.tiles);
      this.emit(job, { jobId: record.id, state: record.state, progress: record.progress, event: 'decoding', tile: event.tile, tiles: event.tiles });
      return;
    }
    record.step = event.step;
    record.progress = Math.min(STEP_SHARE, (STEP_SHARE * event.step) / Math.max(1, event.steps));
    const progress: JobEvent = {
      jobId: record.id,
      state: record.state,
      progress: record.progress,
      event: 'progress',
      step: event.step,
      steps: event.steps,
      sigma: event.sigma,
      elapsedMs: event.elapsedMs,
      etaMs: event.etaMs,
    };
    job.lastProgress = progress;
    this.emit(job, progress);
    if (event.preview && this.previewDue(job)) {
      drawPreview(event.preview).then(
        (image) => {
          if (record.state !== 'running' || job.controller?.signal.aborted) return;
          const preview: JobEvent = { jobId: record.id, state: record.state, progress: record.progress, event: 'preview', step: event.step, png: Buffer.from(image.png).toString('base64'), width: image.width, height: image.height };
          job.lastPreview = preview;
          this.emit(job, preview);
        },
        (error: unknown) => this.opts.log(`job ${record.id}: preview failed: ${errorMessage(error)}`),
      );
    }
  }

  /** The preview throttle: previews cost an x0 estimate and a PNG encode, so at most one per interval is drawn. */
  private previewDue(job: Job): boolean {
    const now = Date.now();
    if (now - job.lastPreviewAt < this.opts.previewIntervalMs) return false;
    job.lastPreviewAt = now;
    return true;
  }

  /**
   * Saves the terminal state, then tells listeners (so a `done` client finds image and record on disk).
   * False when the job had already ended (nothing changed).
   */
  private async finish(job: Job, state: 'done' | 'failed' | 'cancelled' | 'interrupted', patch: Partial<JobRecord>): Promise<boolean> {
    const { record } = job;
    if (isTerminal(record.state)) return false;
    Object.assign(record, patch, { state, finishedAt: new Date().toISOString() });
    if (state === 'done') record.progress = 1;
    job.controller = null;
    job.lastPreview = null;
    try {
      await this.opts.store.save(record);
    } catch (error) {
      this.opts.log(`job ${record.id}: could not save the ${state} state: ${errorMessage(error)}`);
    }
    const event = terminalEvent(record);
    if (event) this.emit(job, event);
    job.listeners.clear();
    job.markFinished();
    return true;
  }

  private async toGenerateRequest(params: JobParams): Promise<GenerateRequest> {
    const { guidance, init, ...rest } = params;
    const request: GenerateRequest = guidance === null ? rest : { ...rest, guidance };
    if (init === undefined) return request;
    if (!this.opts.readInit) throw new Error('This companion cannot read init images.');
    return { ...request, init: { id: init, bytes: await this.opts.readInit(init) } };
  }

  private persist(job: Job): void {
    this.opts.store.save(job.record).catch((error: unknown) => this.opts.log(`job ${job.record.id}: could not save: ${errorMessage(error)}`));
  }

  private emit(job: Job, event: JobEvent): void {
    for (const listener of [...job.listeners]) safeCall(listener, event, this.opts.log);
  }

  private emitPositions(): void {
    this.waiting.forEach((job, i) => {
      if (job.listeners.size > 0) this.emit(job, { event: 'queued', jobId: job.record.id, state: 'queued', progress: 0, position: i + 1 });
    });
  }
}

/** Calls the engine's preview renderer now (it reads this step's latents); a throw becomes a rejection. */
function drawPreview(render: () => Promise<PreviewImage>): Promise<PreviewImage> {
  try {
    return render();
  } catch (error) {
    return Promise.reject(error);
  }
}


/** Stable JSON with sorted keys, for comparing requests. */
function canonical(value: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(value).sort().map((key) => [key, value[key]]));
}

function safeCall(listener: JobListener, event: JobEvent, log: (message: string) => void): void {
  try {
    listener(event);
  } catch (error) {
    log(`event listener failed: ${errorMessage(error)}`);
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
