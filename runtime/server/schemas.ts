/**
 * Request schemas (zod, strict: unknown fields are rejected) and the size limits they enforce.
 * Schemas are built once per engine, because the limits come from the model and the machine.
 */
import { z } from 'zod';
import { checkPixels, fields, intIn, jobBodySchema, MAX_STEPS, MIN_SIDE, numberIn, type JobLimits } from '../contract/index.ts';
import type { EngineInfo } from './engine.ts';
import { ApiError } from './errors.ts';

export { JOB_ID_PATTERN, jobIdProblem, MAX_GUIDANCE, MAX_PROMPT, MAX_SEED, MAX_STEPS, MIN_SIDE } from '../contract/index.ts';
export const MAX_OPENAI_N = 4;
export const MAX_LIST_LIMIT = 200;
export const DEFAULT_LIST_LIMIT = 50;
/**
 * Memory budget heuristic: bytes of RAM per output pixel that a generation may need at peak
 * (transformer activations for the token grid, latents, tiled-decode output, encoder buffers).
 * 16 GiB left after the model allows 32 Mpx, 8 GiB 16 Mpx (4096²).
 */
export const BYTES_PER_PIXEL = 512;

export interface Limits {
  minSide: number;
  maxSide: number;
  /** min(engine maxPixels, memory budget). */
  maxPixels: number;
  maxSteps: number;
}

/** `memoryBytes`: RAM left for generations (the server passes total RAM minus what the loaded engine holds). */
export function computeLimits(info: EngineInfo, memoryBytes: number): Limits {
  const memoryPixels = Math.floor(memoryBytes / BYTES_PER_PIXEL);
  const maxSide = Math.max(MIN_SIDE, info.maxSide);
  return { minSide: MIN_SIDE, maxSide, maxPixels: Math.max(MIN_SIDE * MIN_SIDE, Math.min(info.maxPixels, memoryPixels)), maxSteps: MAX_STEPS };
}

export function buildSchemas(info: EngineInfo, limits: Limits) {
  const jobLimits: JobLimits = { ...limits, defaultSide: info.nativeResolution, methods: info.methods };
  const job = jobBodySchema(jobLimits);

  const sizeRule = `must be "WxH" with W and H integers from ${limits.minSide} to ${limits.maxSide}`;
  const size = z
    .string({ error: sizeRule })
    .regex(/^\d{1,6}x\d{1,6}$/, { error: sizeRule })
    .refine((s) => s.split('x').every((n) => Number(n) >= limits.minSide && Number(n) <= limits.maxSide), { error: sizeRule })
    .transform((s) => s.split('x').map(Number) as [number, number]);

  /** `model` and `user`: accepted for compatibility with OpenAI clients and ignored (this server has one model). */
  const openaiIgnored = z.string({ error: 'must be a string' }).max(200, { error: 'must be at most 200 characters' }).optional();

  const openai = z
    .strictObject({
      prompt: fields.prompt,
      model: openaiIgnored,
      user: openaiIgnored,
      n: intIn(1, MAX_OPENAI_N).optional(),
      size: size.optional(),
      response_format: z.string({ error: 'must be "b64_json"' }).optional(),
      seed: fields.seed.optional(),
      steps: intIn(1, limits.maxSteps).optional(),
    })
    .superRefine((v, ctx) => checkPixels(jobLimits, v.size?.[0] ?? info.nativeResolution, v.size?.[1] ?? info.nativeResolution, ctx, 'size'));

  /** A form field holding a number (multipart fields are text). */
  const formNumber = (rule: z.ZodType<number, number>, integer: boolean) =>
    z
      .string({ error: 'must be a number' })
      .regex(integer ? /^\d{1,10}$/ : /^(?=\.?\d)\d{0,3}(\.\d{1,8})?$/, { error: 'must be a number' })
      .transform(Number)
      .pipe(rule);
  /** POST /v1/images/edits: the text fields of the multipart body (the files are `image` and `mask`). */
  const edits = z
    .strictObject({
      prompt: fields.prompt,
      model: openaiIgnored,
      user: openaiIgnored,
      n: formNumber(intIn(1, MAX_OPENAI_N), true).optional(),
      size: size.optional(),
      response_format: z.string({ error: 'must be "b64_json"' }).optional(),
      seed: formNumber(fields.seed, true).optional(),
      steps: formNumber(intIn(1, limits.maxSteps), true).optional(),
      strength: formNumber(numberIn(0, 1), false).optional(),
    })
    .superRefine((v, ctx) => v.size && checkPixels(jobLimits, v.size[0], v.size[1], ctx, 'size'));

  const listQuery = z.strictObject({
    limit: z
      .string({ error: `must be an integer from 1 to ${MAX_LIST_LIMIT}` })
      .regex(/^\d{1,4}$/, { error: `must be an integer from 1 to ${MAX_LIST_LIMIT}` })
      .transform(Number)
      .pipe(intIn(1, MAX_LIST_LIMIT))
      .optional(),
  });

  return {
    job,
    openai,
    edits,
    listQuery,
    /** Query of routes that take no query parameters. */
    emptyQuery: z.strictObject({}),
    /** Query of the SSE and image routes, where EventSource/<img> cannot send headers. */
    tokenQuery: z.strictObject({ token: z.string({ error: 'must be a string' }).optional() }),
    /** Body of POST /v1/jobs/{id}/cancel: nothing, or an empty object. */
    emptyBody: z.strictObject({}).optional(),
    pair: z.strictObject({ code: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(32, { error: 'must be at most 32 characters' }) }),
  };
}

export type Schemas = ReturnType<typeof buildSchemas>;
export type JobBody = z.output<Schemas['job']>;
export type OpenAiBody = z.output<Schemas['openai']>;
export type EditsBody = z.output<Schemas['edits']>;

/** Parses `input` or throws the first problem as an ApiError naming the field and why. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, where: 'body' | 'query'): z.output<S> {
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw issueToError(result.error.issues[0], where);
}

function issueToError(issue: z.core.$ZodIssue | undefined, where: 'body' | 'query'): ApiError {
  if (!issue) return new ApiError('invalid_field', `The ${where} is invalid.`);
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const field = [path, issue.keys[0]].filter(Boolean).join('.');
    const what = where === 'query' ? 'query parameter' : 'field';
    const plural = issue.keys.length > 1 ? 's' : '';
    return new ApiError('unknown_field', `Unknown ${what}${plural} "${issue.keys.join('", "')}".`, { field });
  }
  if (path === '') {
    return new ApiError('invalid_field', where === 'body' ? 'The body must be a JSON object.' : `The query is invalid: ${issue.message}.`);
  }
  const label = where === 'query' ? `Query parameter ${path}` : path;
  if (issue.code === 'invalid_type' && !('input' in issue && issue.input !== undefined)) {
    return new ApiError('missing_field', `${label} is required: it ${issue.message}.`, { field: path });
  }
  if (issue.code === 'custom' && issue.params?.code === 'image_too_large') {
    return new ApiError('image_too_large', `${issue.message}.`, { field: path });
  }
  const got = 'input' in issue ? ` (got ${preview(issue.input)})` : '';
  return new ApiError('invalid_field', `${label} ${issue.message}${got}.`, { field: path });
}

/**
 * A short, safe rendering of a rejected value. Arrays and objects are named, never serialised: a
 * value nested thousands deep would overflow the stack in JSON.stringify (and in String()).
 */
function preview(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
