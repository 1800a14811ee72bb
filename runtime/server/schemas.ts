/**
 * Request schemas (zod, strict: unknown fields are rejected) and the size limits they enforce.
 * Schemas are built once per engine, because the limits come from the model and the machine.
 */
import { z } from 'zod';
import { IMAGE_FORMATS, MAX_DYPE_EXPONENT, MAX_DYPE_SCALE, MAX_STEPS, MIN_SIDE, YARN_SCALINGS, type GenerationMethod } from '../pipeline/types.ts';
import type { EngineInfo } from './engine.ts';
import { ApiError } from './errors.ts';

export { MAX_STEPS, MIN_SIDE };
export const MAX_PROMPT = 2000;
export const MAX_SEED = 2 ** 32 - 1;
export const MAX_GUIDANCE = 30;
export const MAX_OPENAI_N = 4;
export const MAX_LIST_LIMIT = 200;
export const DEFAULT_LIST_LIMIT = 50;
/**
 * Memory budget heuristic: bytes of RAM per output pixel that a generation may need at peak
 * (transformer activations for the token grid, latents, tiled-decode output, encoder buffers).
 * 16 GiB left after the model allows 32 Mpx, 8 GiB 16 Mpx (4096²).
 */
export const BYTES_PER_PIXEL = 512;

/** Windows device names: reserved as file names with any extension ("nul.json" too), in any case. */
const DEVICE_NAMES = String.raw`con|prn|aux|nul|com\d|lpt\d`;
const DEVICE_NAME = new RegExp(`^(?:${DEVICE_NAMES})$`, 'i');

/**
 * Client-chosen job ids name files (`jobs/<id>.json`, `images/<id>.png`), so only ids that are a
 * distinct, ordinary file name on every system are accepted: lowercase (macOS and Windows file systems
 * ignore case, so "Foo" and "foo" would share one file), a safe alphabet, and no Windows device name.
 * The OpenAPI document uses this pattern's source.
 */
export const JOB_ID_PATTERN = new RegExp(`^(?!(?:${DEVICE_NAMES})$)[a-z0-9][a-z0-9_-]{0,63}$`);
const JOB_ID_RULE = 'must be 1–64 characters of lowercase a–z, 0–9, _ and -, starting with a letter or digit';

/** Why `id` is not a valid job id ("must …"), or null when it is. */
export function jobIdProblem(id: string): string | null {
  if (JOB_ID_PATTERN.test(id)) return null;
  if (DEVICE_NAME.test(id)) return 'must not be a Windows device name (con, prn, aux, nul, com0–com9, lpt0–lpt9)';
  if (JOB_ID_PATTERN.test(id.toLowerCase())) return `must be lowercase, because ids name files and some file systems ignore case: use ${JSON.stringify(id.toLowerCase())}`;
  return JOB_ID_RULE;
}

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

const intIn = (min: number, max: number) => {
  const rule = `must be an integer from ${min} to ${max}`;
  return z.number({ error: rule }).int({ error: rule }).min(min, { error: rule }).max(max, { error: rule });
};

const numberIn = (min: number, max: number) => {
  const rule = `must be a number from ${min} to ${max}`;
  return z.number({ error: rule }).min(min, { error: rule }).max(max, { error: rule });
};

/** Characters are Unicode code points (an emoji counts once), as zod counts them. */
const promptRule = `must be a string of 1 to ${MAX_PROMPT} characters, not counting leading and trailing spaces`;
const prompt = z.string({ error: promptRule }).trim().min(1, { error: promptRule }).max(MAX_PROMPT, { error: promptRule });
const jobId = z.string({ error: 'must be a string' }).regex(JOB_ID_PATTERN, { error: (issue) => jobIdProblem(String(issue.input)) ?? JOB_ID_RULE });

function pixelCheck(limits: Limits, width: unknown, height: unknown, ctx: z.RefinementCtx, field: string): void {
  if (typeof width !== 'number' || typeof height !== 'number') return;
  if (width * height > limits.maxPixels) {
    ctx.addIssue({
      code: 'custom',
      path: [field],
      message: `${width}×${height} is ${width * height} pixels; this machine allows at most ${limits.maxPixels} (width × height)`,
      params: { code: 'image_too_large' },
    });
  }
}

export function buildSchemas(info: EngineInfo, limits: Limits) {
  const side = intIn(limits.minSide, limits.maxSide);
  const methods = info.methods as readonly [GenerationMethod, ...GenerationMethod[]];
  const method = z.enum(methods, { error: `must be one of ${methods.join(', ')}` });
  const format = z.enum(IMAGE_FORMATS, { error: `must be one of ${IMAGE_FORMATS.join(', ')}` });
  const exponentRule = `must be "auto" or a number from 0 to ${MAX_DYPE_EXPONENT}`;
  const dypeExponent = z.union([z.literal('auto'), z.number().min(0, { error: exponentRule }).max(MAX_DYPE_EXPONENT, { error: exponentRule })], { error: exponentRule });

  const job = z
    .strictObject({
      id: jobId.optional(),
      prompt,
      width: side.optional(),
      height: side.optional(),
      seed: intIn(0, MAX_SEED).optional(),
      steps: intIn(1, limits.maxSteps).optional(),
      guidance: numberIn(0, MAX_GUIDANCE).optional(),
      method: method.optional(),
      format: format.optional(),
      /** DyPE λs and λt (ComfyUI-DyPE's dype_scale, dype_exponent); default: the model's. */
      dypeScale: numberIn(0, MAX_DYPE_SCALE).optional(),
      dypeExponent: dypeExponent.optional(),
      /** yarn / dy-yarn on non-square sizes; default anisotropic (each axis by its own length). */
      yarnScaling: z.enum(YARN_SCALINGS, { error: `must be one of ${YARN_SCALINGS.join(', ')}` }).optional(),
    })
    .superRefine((v, ctx) => pixelCheck(limits, v.width ?? info.nativeResolution, v.height ?? info.nativeResolution, ctx, 'width'));

  const sizeRule = `must be "WxH" with W and H integers from ${limits.minSide} to ${limits.maxSide}`;
  const size = z
    .string({ error: sizeRule })
    .regex(/^\d{1,6}x\d{1,6}$/, { error: sizeRule })
    .refine((s) => s.split('x').every((n) => Number(n) >= limits.minSide && Number(n) <= limits.maxSide), { error: sizeRule })
    .transform((s) => s.split('x').map(Number) as [number, number]);

  const openai = z
    .strictObject({
      prompt,
      /** Accepted for compatibility with OpenAI clients and ignored: this server has one model. */
      model: z.string({ error: 'must be a string' }).max(200, { error: 'must be at most 200 characters' }).optional(),
      /** Accepted for compatibility and ignored. */
      user: z.string({ error: 'must be a string' }).max(200, { error: 'must be at most 200 characters' }).optional(),
      n: intIn(1, MAX_OPENAI_N).optional(),
      size: size.optional(),
      response_format: z.string({ error: 'must be "b64_json"' }).optional(),
      seed: intIn(0, MAX_SEED).optional(),
      steps: intIn(1, limits.maxSteps).optional(),
    })
    .superRefine((v, ctx) => pixelCheck(limits, v.size?.[0] ?? info.nativeResolution, v.size?.[1] ?? info.nativeResolution, ctx, 'size'));

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

function preview(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
