/** GET /v1/health: liveness and what this companion can do. No token needed. */
import * as z from 'zod';
import { fields, GENERATION_METHODS, IMAGE_FORMATS } from './rules.ts';

/** A WebGPU adapter as Dawn reports it. */
export const WebGpuAdapterSchema = z.object({
  vendor: z.string(),
  architecture: z.string(),
  device: z.string(),
  description: z.string(),
  /** Software rasteriser (SwiftShader, lavapipe/llvmpipe, WARP): far slower than the CPU provider. */
  software: z.boolean(),
  /** The `shader-f16` feature: without it the WebGPU EP cannot run float16 graphs. */
  shaderF16: z.boolean(),
  /** The largest tensor a shader can bind: min(maxBufferSize, maxStorageBufferBindingSize); absent from older companions. */
  maxBufferBytes: z.number().optional(),
});
export type WebGpuAdapter = z.output<typeof WebGpuAdapterSchema>;

export const SkippedProviderSchema = z.object({ provider: z.string(), reason: z.string() });
export type SkippedProvider = z.output<typeof SkippedProviderSchema>;

const PoolSchema = z.object({ needBytes: z.number(), budgetBytes: z.number().nullable() });

/** The memory plan (runtime/memory/plan.ts) at the model's native size: each stage, where it runs, its memory, and whether it fits. */
export const MemoryPlanSchema = z.object({
  width: z.number().int(),
  height: z.number().int(),
  provider: z.string(),
  /** The transformer's compute type on this provider. */
  precision: z.enum(['float32', 'float16']),
  /** --memory as asked; `release` is what it became (stages released after they run). */
  memory: z.enum(['auto', 'low', 'high']),
  release: z.boolean(),
  stages: z.array(
    z.object({
      stage: z.enum(['text-encoders', 'transformer', 'vae-decode', 'vae-encode']),
      runsOn: z.enum(['gpu', 'cpu']),
      precision: z.enum(['float32', 'float16']),
      weightBytes: z.number(),
      activationBytes: z.number(),
      kept: z.boolean(),
      /** null where the memory it runs in is unknown (a GPU nobody reported). */
      fits: z.boolean().nullable(),
      tile: z.number().int().optional(),
    }),
  ),
  ram: PoolSchema,
  gpu: PoolSchema.nullable(),
  gpuSource: z.string(),
  fits: z.boolean().nullable(),
  refusal: z.string().nullable(),
  notes: z.array(z.string()),
});
export type MemoryPlanReport = z.output<typeof MemoryPlanSchema>;

export const HealthSchema = z.object({
  ok: z.literal(true),
  /** The companion's package version; a client checks the major. */
  version: z.string(),
  model: z.string(),
  /** The model family, as a person reads it ("FLUX.1", "FLUX.2 [klein]"); absent on older companions. */
  family: z.string().optional(),
  /** True for the embedded untrained demo model: its images are abstract. */
  demo: z.boolean(),
  /** The side in pixels the model was trained at: sizes are offered as multiples of it. */
  nativeResolution: z.number().int(),
  pixelsPerToken: z.number().int(),
  minSide: z.number().int(),
  maxSide: z.number().int(),
  /** min(model limit, memory budget), measured at start. */
  maxPixels: z.number().int(),
  maxSteps: z.number().int(),
  /** Execution provider in use, e.g. "cpu" or "cuda". */
  provider: z.string(),
  /** Providers tried before `provider` under --device auto, each with why it was skipped (absent on companions from before WebGPU support). */
  skippedProviders: z.array(SkippedProviderSchema).default([]),
  /** The WebGPU adapter when WebGPU was considered; auto never chooses a software adapter. */
  adapter: WebGpuAdapterSchema.nullable().default(null),
  defaultSteps: z.number().int(),
  defaultGuidance: z.number().nullable(),
  /** The model's DyPE λs and λt (absent on companions from before λ could be set). */
  defaultDypeScale: fields.dypeScale.optional(),
  defaultDypeExponent: fields.dypeExponent.optional(),
  methods: z.array(z.enum(GENERATION_METHODS)),
  formats: z.array(z.enum(IMAGE_FORMATS)),
  /** Jobs may carry `init` (the model has a VAE encoder); absent from older companions. */
  imageToImage: z.boolean().optional(),
  /** The memory plan at the native size; `maxPixels` is the largest image it fits. Absent from older companions. */
  memory: MemoryPlanSchema.optional(),
  /** Running plus waiting jobs. */
  queueLength: z.number().int(),
  queue: z.object({ running: z.number().int(), waiting: z.number().int(), capacity: z.number().int() }),
});
export type Health = z.output<typeof HealthSchema>;

/** The companion's major version whose API this contract describes. */
export const COMPANION_MAJOR = 0;
