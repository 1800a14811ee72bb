/**
 * What the server needs from an image generator. The pipeline's `Pipeline` implements it; so does
 * any other engine (a remote one, or a scripted fake in tests). The server never imports the pipeline.
 */
import type { GenerateOptions, GenerateRequest, GenerateResult, GenerationMethod } from '../pipeline/types.ts';

export interface EngineInfo {
  model: string;
  /** True for the embedded untrained demo model: its images are abstract. */
  demo: boolean;
  nativeResolution: number;
  pixelsPerToken: number;
  maxSide: number;
  maxPixels: number;
  /** Execution provider in use, e.g. "cpu" or "cuda". */
  provider: string;
  defaultSteps: number;
  /** null for models without a guidance embedding. */
  defaultGuidance: number | null;
  methods: readonly GenerationMethod[];
}

export interface Engine {
  readonly info: EngineInfo;
  /** Rejects when `opts.signal` aborts (checked at the start of each step). */
  generate(req: GenerateRequest, opts?: GenerateOptions): Promise<GenerateResult>;
}
