/** The pipeline's public contract: what callers (CLI, server) pass in and get back. */
import type { YarnScaling } from '../dype/index.ts';
import type { DypeExponent, GenerationMethod, ImageFormat } from '../contract/names.ts';
import type { KeepRect } from './keep.ts';
import type { TensorData } from './ort.ts';
import type { ProviderSelection } from './providers.ts';
import type { MemoryPlanReport } from '../contract/health.ts';

export type { KeepRect };

export * from '../contract/names.ts';
export { YARN_SCALINGS, type YarnScaling } from '../dype/index.ts';

export interface GenerateRequest {
  prompt: string;
  /** Exact output size in pixels; generated at the covering token multiple and centre-cropped. */
  width: number;
  height: number;
  /** 0 … 2^32 − 1. Same seed ⇒ same bytes on every machine. */
  seed: number;
  /** Defaults to the bundle's `defaults.steps`. */
  steps?: number;
  /** Defaults to the bundle's `defaults.guidance`; ignored by models without guidance. */
  guidance?: number;
  method?: GenerationMethod;
  format?: ImageFormat;
  /** λs, 0 … MAX_DYPE_SCALE; defaults to the bundle's `defaults.dypeScale`. */
  dypeScale?: number;
  /** λt, 0 … MAX_DYPE_EXPONENT, or 'auto' (by scale factor); defaults to the bundle's `defaults.dypeExponent`. */
  dypeExponent?: DypeExponent;
  /** yarn and dy-yarn on non-square images: each axis by its own length (default) or both by the longer. */
  yarnScaling?: YarnScaling;
  /** Image-to-image: the image to start from (any size; resized to the output, or to `keep`). */
  init?: InitImage;
  /**
   * 0 … 1: how much of the schedule is re-run. 1 starts from pure noise (text-to-image with the same
   * seed), 0 returns the VAE round trip of the init. Default 0.55 with `init`; needs `init`.
   */
  strength?: number;
  /**
   * Extend: the rectangle of the output (px) where the init image is placed and kept; everything
   * outside it is generated from pure noise. Needs `init`.
   */
  keep?: KeepRect;
}

export interface InitImage {
  /** PNG, JPEG or WebP bytes. */
  bytes: Uint8Array;
  /** Recorded in the image's metadata (an upload or job id). */
  id: string;
}

export interface PreviewImage {
  /** PNG bytes of a low-res preview (latent → RGB projection). */
  png: Uint8Array;
  width: number;
  height: number;
}

/**
 * After each denoising step, before the sampler moves on (diffusers' `callback_on_step_end`): the
 * one place a caller hears about a step. Nothing in the loop knows who listens or what for.
 */
export interface StepEvent {
  kind: 'step';
  /** 1-based index of the step just computed. */
  step: number;
  steps: number;
  /** Sigma of this step. */
  sigma: number;
  elapsedMs: number;
  etaMs: number;
  /**
   * The transformer's inputs at this step (the DyPE positions among them), without hidden_states unless
   * it was built for the step (FLUX Fill's conditioned input). Valid during the call only.
   */
  feeds: Readonly<Record<string, TensorData>>;
  /**
   * Renders a low-res preview of the current estimate. It costs an x0 estimate, a projection and a
   * PNG encode, so listeners throttle by not calling it. Call it during the callback (it reads the
   * step's latents); absent on the last step, whose image is about to exist.
   */
  preview?: () => Promise<PreviewImage>;
}

/** After each decoded VAE tile (a 4K FLUX decode takes a while after the last step). */
export interface DecodeEvent {
  kind: 'decode';
  /** Tiles decoded so far. */
  tile: number;
  tiles: number;
}

export type GenerateEvent = StepEvent | DecodeEvent;

export interface GenerateOptions {
  /** Checked at the start of each step and each tile. */
  signal?: AbortSignal;
  /** One stream of events: every step, then every decoded tile. */
  onEvent?: (event: GenerateEvent) => void;
}

export interface GenerateResult {
  /** Encoded image bytes in `format`. */
  image: Uint8Array;
  format: ImageFormat;
  mimeType: string;
  width: number;
  height: number;
  seed: number;
  steps: number;
  method: GenerationMethod;
  /** λs and λt used (an `auto` exponent resolved to its value; `dypeExponentAuto` says it was). */
  dypeScale: number;
  dypeExponent: number;
  dypeExponentAuto: boolean;
  model: string;
  timings: {
    totalMs: number;
    /** Text encoders. */
    encodeTextMs: number;
    /** Reading, resizing and VAE-encoding the init image (image-to-image only). */
    encodeInitMs?: number;
    denoiseMs: number;
    perStepMs: number;
    decodeMs: number;
    /** PNG/JPEG encoding. */
    encodeMs: number;
    /** Time inside ORT `run` calls (all models); the rest is the pipeline's own overhead. */
    ortMs: number;
    /** Time inside the transformer's ORT `run` calls during the denoising loop. */
    denoiseOrtMs: number;
  };
  /** Largest resident set size seen during the run. */
  peakRssBytes: number;
}

/** What callers need to know about an engine before submitting work. */
export interface EngineInfo {
  model: string;
  /** The model family as a person reads it (e.g. "FLUX.1", "FLUX.2 [klein]"); absent on engines that do not say. */
  family?: string;
  /** True for the embedded untrained demo model: its images are abstract. */
  demo: boolean;
  nativeResolution: number;
  pixelsPerToken: number;
  maxSide: number;
  maxPixels: number;
  /** Execution provider in use, e.g. "cpu" or "cuda". */
  provider: string;
  /** Providers skipped before `provider` (with why) and the WebGPU adapter, where known. */
  providerSelection?: ProviderSelection;
  defaultSteps: number;
  /** null for models without a guidance embedding. */
  defaultGuidance: number | null;
  defaultDypeScale: number;
  defaultDypeExponent: DypeExponent;
  methods: readonly GenerationMethod[];
  /** Whether requests may carry `init` (the bundle has a VAE encoder); absent means yes. */
  imageToImage?: boolean;
  /** The memory plan at the native size, where the engine made one. */
  memoryPlan?: MemoryPlanReport;
}

/**
 * An image generator: `Pipeline` implements it, and so can a remote engine or a scripted fake in
 * tests. The server depends on this contract only.
 */
export interface Engine {
  readonly info: EngineInfo;
  /** Rejects when `opts.signal` aborts (checked at the start of each step). */
  generate(req: GenerateRequest, opts?: GenerateOptions): Promise<GenerateResult>;
  /** Resolves once a model switch under way has ended (SwitchableEngine), so `info` is the model the next job runs on. */
  ready?(): Promise<void>;
}
