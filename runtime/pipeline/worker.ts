/**
 * A pipeline in a worker thread, behind the same `Engine` contract as `Pipeline`. onnxruntime-node
 * runs a session synchronously on the calling thread, and a 4096² step, the VAE tiles and the PNG
 * encode each hold it for hundreds of milliseconds: run there, they would stall every HTTP request
 * (health, uploads) for as long as a job runs. Here the calling thread only passes messages.
 */
import { Worker } from 'node:worker_threads';
import { PipelineError, type PipelineErrorCode } from './errors.ts';
import type { LoadOptions } from './pipeline.ts';
import type { Engine, EngineInfo, GenerateOptions, GenerateRequest, GenerateResult, PreviewImage } from './types.ts';
import type { FromWorker, SerializedError, ToWorker, WorkerStart } from './worker-protocol.ts';

export interface PipelineWorkerOptions extends LoadOptions {
  /** At most one preview per job per this many ms is rendered (default 500, the companion's throttle). */
  previewIntervalMs?: number;
}

interface Pending {
  opts: GenerateOptions;
  resolve: (result: GenerateResult) => void;
  reject: (error: Error) => void;
  /** Previews being rendered, by step. */
  previews: Map<number, { resolve: (image: PreviewImage) => void; reject: (error: Error) => void }>;
}

export class PipelineWorker implements Engine {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Why the worker can take no more work (it stopped, or was disposed). */
  private stopped: string | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly info: EngineInfo,
  ) {
    worker.on('message', (message: FromWorker) => this.receive(message));
    worker.on('error', (error) => this.stop(`The generation worker failed: ${error.message}`));
    worker.on('exit', (code) => this.stop(`The generation worker stopped (exit code ${code}).`));
  }

  /** Loads the bundle in a new worker thread; resolves once its sessions exist. */
  static start(bundleDir: string, opts: PipelineWorkerOptions = {}): Promise<PipelineWorker> {
    const { log: _log, previewIntervalMs = 500, ...load } = opts;
    const start: WorkerStart = { ...load, bundleDir, previewIntervalMs };
    const worker = new Worker(new URL('./worker-boot.mjs', import.meta.url), { workerData: start });
    return new Promise<PipelineWorker>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`The generation worker stopped while loading ${bundleDir} (exit code ${code}).`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      const onMessage = (message: FromWorker) => {
        if (message.type === 'log') opts.log?.(message.line);
        if (message.type !== 'ready' && message.type !== 'load-failed') return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (message.type === 'ready') {
          const engine = new PipelineWorker(worker, message.info);
          if (opts.log) worker.on('message', (m: FromWorker) => m.type === 'log' && opts.log!(m.line));
          resolve(engine);
        } else {
          void worker.terminate();
          reject(toError(message.error));
        }
      };
      worker.on('message', onMessage);
    });
  }

  generate(req: GenerateRequest, opts: GenerateOptions = {}): Promise<GenerateResult> {
    if (this.stopped) return Promise.reject(new Error(this.stopped));
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(new PipelineError('cancelled', 'Cancelled before it started.'));
    const id = this.nextId++;
    return new Promise<GenerateResult>((resolve, reject) => {
      const onAbort = () => this.post({ type: 'abort', id, reason: String((signal?.reason as Error | undefined)?.message ?? 'Cancelled') });
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        opts,
        resolve: (result) => (done(), resolve(result)),
        reject: (error) => (done(), reject(error)),
        previews: new Map(),
      });
      this.post({ type: 'generate', id, request: req });
    });
  }

  /** Releases the sessions and ends the thread; work still running is cancelled. */
  async dispose(): Promise<void> {
    if (this.stopped) return;
    const disposed = new Promise<void>((resolve) => {
      const onMessage = (message: FromWorker) => message.type === 'disposed' && resolve();
      this.worker.on('message', onMessage);
      this.worker.once('exit', () => resolve());
    });
    this.post({ type: 'dispose' });
    await disposed;
    this.stop('The engine was disposed.');
    await this.worker.terminate();
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromWorker): void {
    if (!('id' in message)) return;
    const job = this.pending.get(message.id);
    if (!job) return;
    switch (message.type) {
      case 'step': {
        const preview = message.preview ? this.awaitPreview(job, message.step) : undefined;
        const { step, steps, sigma, elapsedMs, etaMs } = message;
        job.opts.onEvent?.({ kind: 'step', step, steps, sigma, elapsedMs, etaMs, feeds: {}, ...(preview ? { preview: () => preview } : {}) });
        break;
      }
      case 'preview':
        job.previews.get(message.step)?.resolve(message.image);
        job.previews.delete(message.step);
        break;
      case 'preview-failed':
        job.previews.get(message.step)?.reject(toError(message.error));
        job.previews.delete(message.step);
        break;
      case 'decode':
        job.opts.onEvent?.({ kind: 'decode', tile: message.tile, tiles: message.tiles });
        break;
      case 'done':
        this.settle(message.id, job);
        job.resolve(message.result); // structured clone keeps the Uint8Array
        break;
      case 'failed':
        this.settle(message.id, job);
        job.reject(toError(message.error));
        break;
    }
  }

  /** The preview of `step`, which the worker is rendering; nobody need ask for it. */
  private awaitPreview(job: Pending, step: number): Promise<PreviewImage> {
    const preview = new Promise<PreviewImage>((resolve, reject) => job.previews.set(step, { resolve, reject }));
    preview.catch(() => {}); // a preview nobody asked for may fail unseen
    return preview;
  }

  private settle(id: number, job: Pending): void {
    this.pending.delete(id);
    for (const preview of job.previews.values()) preview.reject(new Error('The job ended before its preview was drawn.'));
  }

  private stop(reason: string): void {
    this.stopped ??= reason;
    for (const [id, job] of this.pending) {
      this.settle(id, job);
      job.reject(new Error(reason));
    }
  }
}

/** An error from the worker as the caller would have seen it from the pipeline. */
function toError(error: SerializedError): Error {
  if (error.name === 'PipelineError' && error.code) return new PipelineError(error.code as PipelineErrorCode, error.message);
  const copy = new Error(error.message);
  copy.name = error.name;
  return copy;
}
