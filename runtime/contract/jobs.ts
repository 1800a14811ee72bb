/**
 * Jobs on the wire: the body of POST /v1/jobs, the job view the companion answers with, and the one
 * event shape of GET /v1/jobs/{id}/events. Adding a field to the job body is one line in
 * `jobBodyShape`; its type, the OpenAPI document and every check follow from it.
 */
import * as z from 'zod';
import { fields, GENERATION_DEFAULTS, GENERATION_METHODS, IMAGE_FORMATS, intIn, MAX_SIDE, MAX_STEPS, MIN_SIDE, type GenerationMethod } from './rules.ts';

/** What an engine on this machine can do; the companion reports it in health. */
export interface JobLimits {
  minSide: number;
  maxSide: number;
  /** width × height. */
  maxPixels: number;
  maxSteps: number;
  /** Size of an omitted width or height. */
  defaultSide: number;
  methods: readonly GenerationMethod[];
}

/** The limits of the rules alone, before an engine says more. */
export const STATIC_LIMITS: JobLimits = {
  minSide: MIN_SIDE,
  maxSide: MAX_SIDE,
  maxPixels: MAX_SIDE * MAX_SIDE,
  maxSteps: MAX_STEPS,
  defaultSide: 1024,
  methods: GENERATION_METHODS,
};

/** Adds an `image_too_large` issue on `field` when width × height is over the limit. */
export function checkPixels(limits: JobLimits, width: unknown, height: unknown, ctx: z.RefinementCtx, field: string): void {
  // a side that is not a number already has its own issue
  if (typeof width !== 'number' || typeof height !== 'number' || width * height <= limits.maxPixels) return;
  ctx.addIssue({
    code: 'custom',
    path: [field],
    message: `${width}×${height} is ${width * height} pixels; this machine allows at most ${limits.maxPixels} (width × height)`,
    params: { code: 'image_too_large' },
  });
}

/** The fields of a job body; `jobBodySchema` adds the pixel check, `frameJobSchema` the fields the plugin always sets. */
function jobBodyShape(limits: JobLimits) {
  const side = intIn(limits.minSide, limits.maxSide);
  const methods = limits.methods as readonly [GenerationMethod, ...GenerationMethod[]];
  return {
    id: fields.id.optional(),
    prompt: fields.prompt,
    width: side.optional(),
    height: side.optional(),
    seed: fields.seed.optional(),
    steps: intIn(1, limits.maxSteps).optional(),
    guidance: fields.guidance.optional(),
    method: z.enum(methods, { error: `must be one of ${methods.join(', ')}` }).optional(),
    format: fields.format.optional(),
    dypeScale: fields.dypeScale.optional(),
    dypeExponent: fields.dypeExponent.optional(),
    yarnScaling: fields.yarnScaling.optional(),
    init: fields.init.optional(),
    strength: fields.strength.optional(),
    keep: fields.keep.optional(),
  };
}

export type KeepRect = z.output<typeof fields.keep>;

interface ImageToImageFields {
  init?: string | undefined;
  strength?: number | undefined;
  keep?: KeepRect | undefined;
}

/** `strength` and `keep` need `init`; `keep` lies within the width × height output. */
export function checkImageToImage(v: ImageToImageFields, width: number, height: number, ctx: z.RefinementCtx): void {
  for (const field of ['strength', 'keep'] as const) {
    if (v[field] !== undefined && v.init === undefined) {
      ctx.addIssue({ code: 'custom', path: [field], message: 'needs "init": the image to start from' });
    }
  }
  const keep = v.keep;
  if (keep && (keep.x + keep.width > width || keep.y + keep.height > height)) {
    ctx.addIssue({
      code: 'custom',
      path: ['keep'],
      message: `must lie within the ${width}×${height} output (got x ${keep.x} + width ${keep.width}, y ${keep.y} + height ${keep.height})`,
    });
  }
}

/** POST /v1/jobs. Strict: unknown fields are an error. Omitted fields take the engine's defaults. */
export function jobBodySchema(limits: JobLimits = STATIC_LIMITS) {
  return z
    .strictObject(jobBodyShape(limits))
    .superRefine((v, ctx) => {
      checkPixels(limits, v.width ?? limits.defaultSide, v.height ?? limits.defaultSide, ctx, 'width');
      checkImageToImage(v, v.width ?? limits.defaultSide, v.height ?? limits.defaultSide, ctx);
    });
}

/** A job body as the plugin sends it for a frame: id, size, seed, method and format resolved. */
export const FrameJobBodySchema = z.strictObject({
  ...jobBodyShape(STATIC_LIMITS),
  id: fields.id,
  width: fields.side,
  height: fields.side,
  seed: fields.seed,
  method: fields.method,
  format: fields.format,
}).superRefine((v, ctx) => checkImageToImage(v, v.width, v.height, ctx));
export type FrameJobBody = z.output<typeof FrameJobBodySchema>;

export type JobBody = z.output<ReturnType<typeof jobBodySchema>>;

export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted'] as const;
export const JobStateSchema = z.enum(JOB_STATES);
export type JobState = z.output<typeof JobStateSchema>;
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled', 'interrupted']);

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

/** λs and λt of every job from before they could be set. */
const LEGACY_DYPE_LAMBDA = 2;

/** Everything the engine is asked to do, defaults resolved. */
export const JobParamsSchema = z.object({
  prompt: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  seed: z.number().int(),
  steps: z.number().int(),
  guidance: z.number().nullable(),
  method: z.enum(GENERATION_METHODS),
  format: z.enum(IMAGE_FORMATS),
  // DyPE λ as asked ('auto' stays 'auto'; the result has the value used). Records written before λ
  // could be set ran with the then fixed λs = λt = 2.
  dypeScale: z.number().default(LEGACY_DYPE_LAMBDA),
  dypeExponent: z
    .union([z.literal('auto'), z.number()])
    .default(LEGACY_DYPE_LAMBDA)
    .meta({ description: 'DyPE λt as asked ("auto" stays "auto"; result.dypeExponent is the value used).' }),
  yarnScaling: fields.yarnScaling.default(GENERATION_DEFAULTS.yarnScaling),
  /** Image-to-image: the upload or job id the image started from (absent for text-to-image). */
  init: z.string().optional(),
  /** Image-to-image: the part of the schedule re-run (1 = from pure noise). */
  strength: z.number().optional(),
  /** Extend: where the init image is kept, in output pixels. */
  keep: z.object({ x: z.number().int(), y: z.number().int(), width: z.number().int(), height: z.number().int(), feather: z.number().int() }).optional(),
});
export type JobParams = z.output<typeof JobParamsSchema>;

/** Why a job ended without an image; carried in the job and the `failed`/`interrupted` events. */
export const JOB_ERRORS = {
  engine_error: 'The engine failed while generating.',
  write_failed: 'The image was generated but could not be written to the data folder.',
  interrupted: 'The companion stopped before this job finished.',
} as const;
export const JobErrorSchema = z.object({
  code: z.enum(Object.keys(JOB_ERRORS) as [keyof typeof JOB_ERRORS, ...(keyof typeof JOB_ERRORS)[]]),
  message: z.string(),
});
export type JobError = z.output<typeof JobErrorSchema>;
export type JobErrorCode = JobError['code'];

/** A finished job's image: its metadata and where to fetch it. Loose: fields added later pass through. */
export const JobResultViewSchema = z.looseObject({
  /** Path of `GET /v1/jobs/{id}/image`. */
  url: z.string(),
  format: z.enum(IMAGE_FORMATS),
  mimeType: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int(),
  seed: z.number().int(),
  steps: z.number().int(),
  method: z.enum(GENERATION_METHODS),
  dypeScale: z.number().default(LEGACY_DYPE_LAMBDA).meta({ description: 'DyPE λs used.' }),
  dypeExponent: z.number().default(LEGACY_DYPE_LAMBDA).meta({ description: 'DyPE λt used (an "auto" request resolved to its value).' }),
  dypeExponentAuto: z.boolean().default(false).meta({ description: 'True when λt was picked by "auto".' }),
  model: z.string(),
  timings: z.record(z.string(), z.number()),
  peakRssBytes: z.number().int().optional(),
});
export type JobResultView = z.output<typeof JobResultViewSchema>;

export const JOB_SOURCES = ['jobs', 'openai'] as const;

export const JobViewSchema = z.object({
  id: z.string(),
  state: JobStateSchema,
  params: JobParamsSchema,
  /** Which endpoint created the job. */
  source: z.enum(JOB_SOURCES),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** 0–1, below 1 until the image exists. */
  progress: z.number().min(0).max(1),
  /** Last finished step (0 before the first). */
  step: z.number().int(),
  /** 1-based place among waiting jobs; 0 while running; null once finished. */
  position: z.number().int().nullable(),
  error: JobErrorSchema.nullable(),
  result: JobResultViewSchema.nullable(),
});
export type JobView = z.output<typeof JobViewSchema>;

export const JobListSchema = z.object({ jobs: z.array(JobViewSchema) });

const eventBase = { jobId: z.string(), state: JobStateSchema, progress: z.number().min(0).max(1) };

/** One shape for every event: {event, jobId, state, progress, ...}. Progress stays below 1 until done. */
export const JobEventSchema = z.discriminatedUnion('event', [
  z.object({ ...eventBase, event: z.literal('queued'), position: z.number().int() }),
  z.object({ ...eventBase, event: z.literal('started') }),
  z.object({ ...eventBase, event: z.literal('progress'), step: z.number().int(), steps: z.number().int(), sigma: z.number(), elapsedMs: z.number(), etaMs: z.number() }),
  z.object({ ...eventBase, event: z.literal('preview'), step: z.number().int(), png: z.string(), width: z.number().int(), height: z.number().int() }),
  z.object({ ...eventBase, event: z.literal('decoding'), tile: z.number().int(), tiles: z.number().int() }),
  z.object({ ...eventBase, event: z.literal('done'), result: JobResultViewSchema }),
  z.object({ ...eventBase, event: z.literal('failed'), error: JobErrorSchema }),
  z.object({ ...eventBase, event: z.literal('cancelled') }),
  z.object({ ...eventBase, event: z.literal('interrupted'), error: JobErrorSchema }),
]);
export type JobEvent = z.output<typeof JobEventSchema>;
export type JobEventName = JobEvent['event'];
export const TERMINAL_EVENTS: ReadonlySet<JobEventName> = new Set(['done', 'failed', 'cancelled', 'interrupted']);
