/**
 * A scripted Engine for server tests (the engine is the server's outside boundary). It walks through
 * steps with a delay, reports each step and renders the previews the listener asks for, honours the
 * AbortSignal between steps, and returns a real PNG/JPEG of the requested size made with sharp.
 */
import sharp from 'sharp';
import type { Engine, EngineInfo } from '../../../runtime/server/engine.ts';
import { GENERATION_METHODS, resolveDypeExponent, type GenerateOptions, type GenerateRequest, type GenerateResult } from '../../../runtime/pipeline/types.ts';

export interface StepScript {
  /** Delay per step in ms. */
  stepMs: number;
  /** Throw this message when starting this 1-based step. */
  failAtStep?: number;
  failMessage?: string;
}

export interface FakeEngineOptions {
  info?: Partial<EngineInfo>;
  /** Per-request script; default `{ stepMs }` with the constructor's stepMs. */
  script?: (req: GenerateRequest) => Partial<StepScript>;
  stepMs?: number;
}

export interface CallLog {
  request: GenerateRequest;
  /** Steps finished so far. */
  stepsDone: number;
  /** Steps finished at the moment the signal aborted (undefined if it never did). */
  stepsAtAbort?: number;
  outcome: 'running' | 'done' | 'aborted' | 'failed';
  /** Previews rendered (the steps whose preview the listener called). */
  previews: number;
}

export const FAKE_INFO: EngineInfo = {
  model: 'fake-dit',
  demo: true,
  nativeResolution: 256,
  pixelsPerToken: 16,
  maxSide: 1024,
  maxPixels: 1024 * 768,
  provider: 'cpu',
  defaultSteps: 4,
  defaultGuidance: 3.5,
  defaultDypeScale: 2,
  defaultDypeExponent: 2,
  methods: GENERATION_METHODS,
};

export class FakeEngine implements Engine {
  readonly info: EngineInfo;
  readonly calls: CallLog[] = [];
  private readonly script: (req: GenerateRequest) => Partial<StepScript>;
  private readonly stepMs: number;
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;

  constructor(options: FakeEngineOptions = {}) {
    this.info = { ...FAKE_INFO, ...options.info };
    this.script = options.script ?? (() => ({}));
    this.stepMs = options.stepMs ?? 5;
  }

  /** Makes every generate() wait before its first step until `release()` is called. */
  hold(): () => void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
    return () => this.release();
  }

  release(): void {
    this.openGate?.();
    this.gate = null;
    this.openGate = null;
  }

  /** Resolves once `count` generate() calls have started. */
  async waitForCalls(count: number, timeoutMs = 10_000): Promise<void> {
    const start = Date.now();
    while (this.calls.length < count) {
      if (Date.now() - start > timeoutMs) throw new Error(`engine saw ${this.calls.length} calls, expected ${count}`);
      await sleep(5);
    }
  }

  async generate(req: GenerateRequest, opts: GenerateOptions = {}): Promise<GenerateResult> {
    const log: CallLog = { request: req, stepsDone: 0, outcome: 'running', previews: 0 };
    this.calls.push(log);
    const { signal } = opts;
    signal?.addEventListener('abort', () => (log.stepsAtAbort = log.stepsDone), { once: true });
    const script = { stepMs: this.stepMs, ...this.script(req) };
    const steps = req.steps ?? this.info.defaultSteps;
    const started = Date.now();
    try {
      if (this.gate) await abortable(this.gate, signal);
      for (let step = 1; step <= steps; step++) {
        signal?.throwIfAborted();
        if (script.failAtStep === step) throw new Error(script.failMessage ?? `fake failure at step ${step}`);
        await sleep(script.stepMs);
        log.stepsDone = step;
        // like the pipeline: every step but the last offers a preview, rendered only when asked for
        const preview = step < steps ? () => (log.previews++, previewPng(step)) : undefined;
        const elapsedMs = Date.now() - started;
        opts.onEvent?.({ kind: 'step', step, steps, sigma: 1 - step / steps, elapsedMs, etaMs: (elapsedMs / step) * (steps - step), feeds: {}, preview });
      }
      signal?.throwIfAborted();
      const format = req.format ?? 'png';
      const exponent = req.dypeExponent ?? this.info.defaultDypeExponent;
      const image = await solidImage(req.width, req.height, req.seed, format);
      log.outcome = 'done';
      const totalMs = Date.now() - started;
      return {
        image,
        format,
        mimeType: format === 'png' ? 'image/png' : 'image/jpeg',
        width: req.width,
        height: req.height,
        seed: req.seed,
        steps,
        method: req.method ?? 'dy-yarn',
        dypeScale: req.dypeScale ?? this.info.defaultDypeScale,
        dypeExponent: resolveDypeExponent(exponent, req.width, req.height, this.info.nativeResolution),
        dypeExponentAuto: exponent === 'auto',
        model: this.info.model,
        timings: { totalMs, encodeTextMs: 0, denoiseMs: totalMs, perStepMs: totalMs / steps, decodeMs: 0, encodeMs: 0, ortMs: 0, denoiseOrtMs: 0 },
        peakRssBytes: process.memoryUsage.rss(),
      };
    } catch (error) {
      log.outcome = signal?.aborted ? 'aborted' : 'failed';
      throw error;
    }
  }
}

/** A solid colour picked from the seed, so equal seeds give equal bytes. */
export async function solidImage(width: number, height: number, seed: number, format: 'png' | 'jpg'): Promise<Uint8Array> {
  const background = { r: seed & 255, g: (seed >>> 8) & 255, b: (seed >>> 16) & 255 };
  const base = sharp({ create: { width, height, channels: 3, background } });
  const encoded = format === 'png' ? base.png() : base.jpeg({ quality: 90 });
  return new Uint8Array(await encoded.toBuffer());
}

async function previewPng(step: number): Promise<{ png: Uint8Array; width: number; height: number }> {
  const png = await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: step * 20, g: 0, b: 0 } } }).png().toBuffer();
  return { png: new Uint8Array(png), width: 16, height: 12 };
}

function abortable(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
