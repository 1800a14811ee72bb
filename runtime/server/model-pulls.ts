/**
 * Model pulls as jobs: each runs `installModel` (runtime/models) with an AbortSignal and turns its
 * events into one job view plus events for SSE. One pull runs at a time; others wait. Cancel stops
 * it, keeping partial files; pulling the same model again resumes them. Knows nothing about HTTP.
 */
import { randomUUID } from 'node:crypto';
import { HubError, type HubConfig } from '../models/hub.ts';
import { installModel, type InstallEvent, type InstallOptions } from '../models/install.ts';
import type { PullEvent, PullFileView, PullJobView } from '../contract/index.ts';
import { errorMessage } from './queue.ts';

export interface ModelPullOptions {
  dataDir: string;
  cacheDir: string;
  hub: HubConfig;
  /** Passed to installModel (tests: a small free space, tiny CLIP-like encoders). */
  install?: Partial<Pick<InstallOptions, 'convert' | 'freeBytes' | 'attempts'>>;
  log: (message: string) => void;
}

type Listener = (event: PullEvent) => void;

interface PullJob {
  view: PullJobView;
  listeners: Set<Listener>;
  controller: AbortController;
  /** When the last byte-count event went out (they are throttled; a GB file gives thousands of chunks). */
  lastBytesAt: number;
}

/** At most one byte-count event per this many ms per pull. */
const BYTES_EVENT_MS = 200;

/** Share of the progress bar the download takes; conversion (graphs only, weights are linked) the rest. */
const FETCH_SHARE = 0.95;
const TERMINAL = new Set(['done', 'failed', 'cancelled']);

export class ModelPulls {
  private readonly jobs = new Map<string, PullJob>();
  private readonly waiting: PullJob[] = [];
  private running: PullJob | null = null;
  private closed = false;

  constructor(private readonly opts: ModelPullOptions) {}

  start(model: string): PullJobView {
    if (this.closed) throw new HubError('cancelled', 'The companion is shutting down.');
    const job: PullJob = {
      view: { id: randomUUID(), model, state: 'queued', phase: null, progress: 0, totalBytes: 0, doneBytes: 0, files: [], installed: null, error: null },
      listeners: new Set(),
      controller: new AbortController(),
      lastBytesAt: 0,
    };
    this.jobs.set(job.view.id, job);
    this.waiting.push(job);
    this.pump();
    return snapshot(job.view);
  }

  get(id: string): PullJobView | null {
    const job = this.jobs.get(id);
    return job ? snapshot(job.view) : null;
  }

  list(): PullJobView[] {
    return [...this.jobs.values()].map((j) => snapshot(j.view)).reverse();
  }

  /** Replays the job's state, then every event until it ends. Returns the unsubscribe function. */
  subscribe(id: string, listener: Listener): () => void {
    const job = this.jobs.get(id);
    if (!job) throw new Error(`No pull "${id}".`);
    const state = job.view.state;
    listener({ event: TERMINAL.has(state) ? (state as 'done' | 'failed' | 'cancelled') : 'state', job: snapshot(job.view) });
    if (TERMINAL.has(state)) return () => {};
    job.listeners.add(listener);
    return () => job.listeners.delete(listener);
  }

  /** Stops a queued or running pull; partial files stay for the next pull of the same model. */
  async cancel(id: string): Promise<PullJobView | null> {
    const job = this.jobs.get(id);
    if (!job) return null;
    if (job.view.state === 'queued') {
      this.waiting.splice(this.waiting.indexOf(job), 1);
      this.finish(job, 'cancelled', null);
    } else if (job.view.state === 'running') {
      job.controller.abort();
      await this.ended(job);
    }
    return snapshot(job.view);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) this.finish(job, 'cancelled', null);
    if (this.running) {
      const running = this.running;
      running.controller.abort();
      await this.ended(running);
    }
  }

  private ended(job: PullJob): Promise<void> {
    if (TERMINAL.has(job.view.state)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (event: PullEvent) => {
        if (TERMINAL.has(event.event)) {
          job.listeners.delete(done);
          resolve();
        }
      };
      job.listeners.add(done);
    });
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.running = job;
    void this.run(job).finally(() => {
      this.running = null;
      this.pump();
    });
  }

  private async run(job: PullJob): Promise<void> {
    Object.assign(job.view, { state: 'running', phase: 'listing' });
    this.emit(job, 'state');
    try {
      const result = await installModel(job.view.model, {
        ...this.opts.install,
        hub: this.opts.hub,
        cacheDir: this.opts.cacheDir,
        dataDir: this.opts.dataDir,
        signal: job.controller.signal,
        onEvent: (event) => this.onInstallEvent(job, event),
      });
      job.view.installed = result.bundle?.name ?? null;
      this.finish(job, 'done', null);
    } catch (error) {
      if (job.controller.signal.aborted) this.finish(job, 'cancelled', null);
      else {
        this.opts.log(`model pull ${job.view.model}: ${errorMessage(error)}`);
        const code = error instanceof HubError ? error.code : 'failed';
        const file = error instanceof HubError ? error.file : undefined;
        this.finish(job, 'failed', { code, message: errorMessage(error), ...(file ? { file } : {}) });
      }
    }
  }

  private onInstallEvent(job: PullJob, event: InstallEvent): void {
    const view = job.view;
    const fileOf = (repo: string, path: string): PullFileView | undefined => view.files.find((f) => f.repo === repo && f.path === path);
    switch (event.kind) {
      case 'plan':
        view.phase = 'fetching';
        view.totalBytes = event.totalBytes;
        view.files = event.files.map((f) => ({ repo: f.repo, path: f.path, size: f.size, have: f.have, state: f.present ? 'done' : 'waiting' }));
        this.progress(job);
        this.emit(job, 'plan');
        return;
      case 'file': {
        const file = fileOf(event.repo, event.path);
        if (file) Object.assign(file, { have: event.have, state: 'fetching' });
        this.progress(job);
        const now = Date.now();
        if (now - job.lastBytesAt < BYTES_EVENT_MS) return;
        job.lastBytesAt = now;
        this.emit(job, 'file', `${event.repo}/${event.path}`);
        return;
      }
      case 'verify': {
        const file = fileOf(event.repo, event.path);
        if (file) file.state = 'verifying';
        this.emit(job, 'verify', `${event.repo}/${event.path}`);
        return;
      }
      case 'done-file': {
        const file = fileOf(event.repo, event.path);
        if (file) Object.assign(file, { have: file.size, state: 'done' });
        this.progress(job);
        this.emit(job, 'file', `${event.repo}/${event.path}`);
        return;
      }
      case 'retry':
        this.emit(job, 'file', `${event.repo}/${event.path}: ${event.reason}; resuming`);
        return;
      case 'convert':
        view.phase = 'converting';
        view.progress = FETCH_SHARE;
        this.emit(job, 'convert', event.line);
        return;
      case 'installed':
        return;
    }
  }

  private progress(job: PullJob): void {
    const view = job.view;
    view.doneBytes = view.files.reduce((n, f) => n + f.have, 0);
    view.progress = view.totalBytes > 0 ? (FETCH_SHARE * view.doneBytes) / view.totalBytes : 0;
  }

  private finish(job: PullJob, state: 'done' | 'failed' | 'cancelled', error: PullJobView['error']): void {
    Object.assign(job.view, { state, phase: null, error, ...(state === 'done' ? { progress: 1 } : {}) });
    this.emit(job, state);
    job.listeners.clear();
  }

  private emit(job: PullJob, event: PullEvent['event'], detail?: string): void {
    const payload: PullEvent = { event, job: snapshot(job.view), ...(detail ? { detail } : {}) };
    for (const listener of [...job.listeners]) {
      try {
        listener(payload);
      } catch (error) {
        this.opts.log(`pull event listener failed: ${errorMessage(error)}`);
      }
    }
  }
}

function snapshot(view: PullJobView): PullJobView {
  return { ...view, files: view.files.map((f) => ({ ...f })), error: view.error ? { ...view.error } : null };
}
