/**
 * The rules every front end checks a generation against (the companion's zod schemas, the CLI's
 * options, the plugin's messages and settings): one zod schema per field, built here once.
 */
import * as z from 'zod';
import { YARN_SCALINGS } from '../dype/options.ts';
import { AUTO_DYPE_EXPONENTS, GENERATION_METHODS, IMAGE_FORMATS, MAX_DYPE_EXPONENT, MAX_DYPE_SCALE, MAX_STEPS, MIN_SIDE, resolveDypeExponent } from './names.ts';

export { AUTO_DYPE_EXPONENTS, GENERATION_METHODS, IMAGE_FORMATS, MAX_DYPE_EXPONENT, MAX_DYPE_SCALE, MAX_STEPS, MIN_SIDE, resolveDypeExponent, YARN_SCALINGS };
export type { DypeExponent, GenerationMethod, ImageFormat } from './names.ts';
export type { YarnScaling } from '../dype/options.ts';

export const MAX_PROMPT = 2000;
export const MAX_SEED = 2 ** 32 - 1;
export const MAX_GUIDANCE = 30;
/** Largest side any engine may allow; each engine and machine reports its own, smaller limits in health. */
export const MAX_SIDE = 1 << 16;

/** Windows device names: reserved as file names with any extension ("nul.json" too), in any case. */
const DEVICE_NAMES = String.raw`con|prn|aux|nul|com\d|lpt\d`;
const DEVICE_NAME = new RegExp(`^(?:${DEVICE_NAMES})$`, 'i');

/**
 * Client-chosen job ids name files (`jobs/<id>.json`, `images/<id>.png`), so only ids that are a
 * distinct, ordinary file name on every system are accepted: lowercase (macOS and Windows file systems
 * ignore case, so "Foo" and "foo" would share one file), a safe alphabet, and no Windows device name.
 */
export const JOB_ID_PATTERN = new RegExp(`^(?!(?:${DEVICE_NAMES})$)(?!upload-)[a-z0-9][a-z0-9_-]{0,63}$`);
const JOB_ID_RULE = 'must be 1–64 characters of lowercase a–z, 0–9, _ and -, starting with a letter or digit';

/** Ids of uploaded images (POST /v1/uploads); job ids may not start with "upload-", so the two never meet. */
export const UPLOAD_ID_PATTERN = /^upload-[a-z0-9]{16,32}$/;

/** Why `id` is not a valid job id ("must …"), or null when it is. */
export function jobIdProblem(id: string): string | null {
  if (JOB_ID_PATTERN.test(id)) return null;
  if (DEVICE_NAME.test(id)) return 'must not be a Windows device name (con, prn, aux, nul, com0–com9, lpt0–lpt9)';
  if (id.toLowerCase().startsWith('upload-')) return 'must not start with "upload-": that prefix names uploaded images';
  if (JOB_ID_PATTERN.test(id.toLowerCase())) return `must be lowercase, because ids name files and some file systems ignore case: use ${JSON.stringify(id.toLowerCase())}`;
  return JOB_ID_RULE;
}

/** An integer in [min, max]; every failure says the whole rule. */
export function intIn(min: number, max: number) {
  const rule = `must be an integer from ${min} to ${max}`;
  return z.number({ error: rule }).int({ error: rule }).min(min, { error: rule }).max(max, { error: rule });
}

export function numberIn(min: number, max: number) {
  const rule = `must be a number from ${min} to ${max}`;
  return z.number({ error: rule }).min(min, { error: rule }).max(max, { error: rule });
}

/** Characters are Unicode code points (an emoji counts once), as zod counts them. */
const promptRule = `must be a string of 1 to ${MAX_PROMPT} characters, not counting leading and trailing spaces`;

const exponentRule = `must be "auto" or a number from 0 to ${MAX_DYPE_EXPONENT}`;
/** What `auto` picks, in words: "2 from 3.5×, 1 from 2×, 0.5 from 0×" (scale = longer side / native side). */
export const AUTO_DYPE_RULE = AUTO_DYPE_EXPONENTS.map((step) => `${step.exponent} from ${step.fromScale}×`).join(', ');

/** One schema per field of a generation; sides are checked against an engine's limits by `jobBodySchema`. */
export const fields = {
  prompt: z.string({ error: promptRule }).trim().min(1, { error: promptRule }).max(MAX_PROMPT, { error: promptRule }),
  id: z.string({ error: 'must be a string' }).regex(JOB_ID_PATTERN, { error: (issue) => jobIdProblem(String(issue.input)) ?? JOB_ID_RULE }),
  side: intIn(MIN_SIDE, MAX_SIDE),
  seed: intIn(0, MAX_SEED),
  steps: intIn(1, MAX_STEPS),
  guidance: numberIn(0, MAX_GUIDANCE),
  method: z.enum(GENERATION_METHODS, { error: `must be one of ${GENERATION_METHODS.join(', ')}` }),
  format: z.enum(IMAGE_FORMATS, { error: `must be one of ${IMAGE_FORMATS.join(', ')}` }),
  /** DyPE λs (ComfyUI-DyPE's dype_scale): how strongly positions are rescaled at t = 1. */
  dypeScale: numberIn(0, MAX_DYPE_SCALE).meta({ description: 'DyPE λs: how strongly positions are rescaled at the first step.' }),
  /** DyPE λt (dype_exponent): how fast that fades; `auto` picks it by the scale factor (names.ts). */
  dypeExponent: z
    .union([z.literal('auto'), z.number().min(0, { error: exponentRule }).max(MAX_DYPE_EXPONENT, { error: exponentRule })], { error: exponentRule })
    .meta({ description: `DyPE λt, or "auto": by the scale factor (longer side / native side): ${AUTO_DYPE_RULE}.` }),
  /** yarn / dy-yarn on non-square sizes: each axis by its own length (anisotropic) or both by the longer. */
  yarnScaling: z.enum(YARN_SCALINGS, { error: `must be one of ${YARN_SCALINGS.join(', ')}` }),
  /** An upload id, or the id of a finished job of this companion. */
  init: z.string({ error: 'must be an upload id or a job id' }).refine((v) => UPLOAD_ID_PATTERN.test(v) || JOB_ID_PATTERN.test(v), {
    error: 'must be an upload id ("upload-" and 16–32 of a–z, 0–9) or a job id',
  }),
  strength: numberIn(0, 1),
  keep: z.strictObject(
    {
      x: intIn(0, MAX_SIDE),
      y: intIn(0, MAX_SIDE),
      width: intIn(1, MAX_SIDE),
      height: intIn(1, MAX_SIDE),
      feather: intIn(0, MAX_SIDE),
    },
    { error: 'must be an object { x, y, width, height, feather } of integers in output pixels' },
  ),
};

/**
 * What every resolver (CLI, plugin, companion, pipeline) uses for a generation field left out. The
 * model's own defaults (steps, guidance, λs, λt) come from its bundle instead.
 */
export const GENERATION_DEFAULTS = Object.freeze({
  /** DyPE-YaRN, the method the paper recommends. */
  method: 'dy-yarn',
  format: 'png',
  yarnScaling: 'anisotropic',
  /** Strength of an image-to-image job whose body names an init image but no strength. */
  strength: 0.55,
} as const);
