/**
 * The plugin ↔ UI contract: every message name, its payload, and the plain records both sides pass
 * around, as zod schemas with their types inferred. Messages are `{ type, ...payload }` objects sent as
 * Figma's `pluginMessage`; each side parses what it receives with these schemas and drops the rest.
 */
import * as z from 'zod';
import { FrameJobBodySchema } from './jobs.ts';
import { fields } from './rules.ts';

/** Figma's limit on an image's width and height; larger results are placed as tiles of at most this size. */
export const MAX_IMAGE_SIDE = 4096;

/** The UI forwards at most one live preview per job this often: each one is a createImage and a fill edit here. */
export const PREVIEW_FORWARD_MS = 1000;

/**
 * The only companion address manifest.json's networkAccess lets the UI reach. Figma's manifest takes
 * `localhost` but no IP literal, and the UI's Content-Security-Policy lists exactly these strings.
 */
export const COMPANION_ORIGINS: readonly string[] = ['http://localhost:7860'];

/** An http(s) URL whose host is a loopback IP literal (127.0.0.1 or [::1]); group 1 is the scheme. */
const LOOPBACK_IP_URL = /^(https?:\/\/)(?:127\.0\.0\.1|\[::1\])(?=[:/?#]|$)/i;

/**
 * `url` with its loopback IP literal replaced by `localhost` (the only way Figma lets the UI reach the
 * companion), or null when its host is not 127.0.0.1 or [::1]. A regular expression, not URL: the
 * plugin's main thread has no URL class.
 */
export function asLocalhost(url: string): string | null {
  const trimmed = url.trim();
  return LOOPBACK_IP_URL.test(trimmed) ? trimmed.replace(LOOPBACK_IP_URL, '$1localhost') : null;
}

const positiveInt = z.number().int().positive();
/** Encoded image bytes; postMessage carries them as they are. */
const bytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, { error: 'must be a Uint8Array' });
const size = { width: z.number(), height: z.number() };

/** Pixels per frame point (1×–4×), or a fixed longest side in pixels. */
export const DensitySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('scale'), scale: z.number().positive().max(16) }),
  z.object({ kind: z.literal('longest'), px: positiveInt }),
]);
export type Density = z.output<typeof DensitySchema>;

/**
 * What a frame's new image does with the picture it shows now: Refine keeps the picture and adds
 * detail (image-to-image, optionally upscaled), Extend keeps it where the resized frame kept it and
 * generates the new area, Re-imagine draws a new picture from the prompt and seed.
 */
export const ACTIONS = ['refine', 'extend', 'reimagine'] as const;
export const ActionSchema = z.enum(ACTIONS);
export type Action = z.output<typeof ActionSchema>;

/** Refine from the selection makes the new image this many times the current image's pixels per side. */
export const UPSCALES = [1, 2, 4] as const;
export const UpscaleSchema = z.union([z.literal(1), z.literal(2), z.literal(4)]);
export type Upscale = z.output<typeof UpscaleSchema>;

/** null: the companion's default strength (GENERATION_DEFAULTS.strength). */
const strengthOrDefault = fields.strength.nullable();

/** null: the model's default. */
const stepsOrDefault = fields.steps.nullable();
/** null: the model's default. */
const guidanceOrDefault = fields.guidance.nullable();
/** DyPE λs; null: the model's default. */
const dypeScaleOrDefault = fields.dypeScale.nullable();
/** DyPE λt or 'auto'; null: the model's default. */
const dypeExponentOrDefault = fields.dypeExponent.nullable();

/** What, with a frame's size, describes one generation: the panel's settings and a frame's record share them. */
const generationFields = {
  prompt: z.string(),
  method: fields.method,
  steps: stepsOrDefault,
  guidance: guidanceOrDefault,
  dypeScale: dypeScaleOrDefault,
  dypeExponent: dypeExponentOrDefault,
  seed: fields.seed,
  format: fields.format,
  density: DensitySchema,
};

/** Kept in figma.clientStorage by the main thread, merged over its defaults field by field. */
export const SettingsSchema = z.object({
  /** e.g. "http://localhost:7860". */
  companionUrl: z.string(),
  /** From POST /v1/pair; null until paired. */
  token: z.string().nullable(),
  ...generationFields,
  /** Unlocked: the UI picks a new random seed for every Generate. */
  seedLocked: z.boolean(),
  /** The action Generate runs on selected frames. */
  action: ActionSchema,
  /** Refine's upscale factor (×1, ×2, ×4 of the current image). */
  upscale: UpscaleSchema,
  /** Refine and Extend: how much of the schedule is run again (Advanced). */
  strength: strengthOrDefault,
});
export type Settings = z.output<typeof SettingsSchema>;

/** Size limits the companion reports in GET /v1/health. */
/** The companion's size limits, and the model's native side (a new frame is made at it; absent from older UIs). */
export const LimitsSchema = z.object({ minSide: z.number(), maxSide: z.number(), maxPixels: z.number(), nativeSide: z.number().int().positive().optional() });
export type Limits = z.output<typeof LimitsSchema>;

/** Everything that, with a frame's size, describes one generation. */
export const GenerationParamsSchema = z.object(generationFields);
export type GenerationParams = z.output<typeof GenerationParamsSchema>;

/** Stored on a frame (pluginData "generation", JSON) once an image was applied to it. */
export const GenerationSchema = GenerationParamsSchema.extend({
  // frames generated before λ could be set have none: the model's default
  dypeScale: dypeScaleOrDefault.default(null),
  dypeExponent: dypeExponentOrDefault.default(null),
  version: z.literal(1),
  jobId: z.string(),
  model: z.string(),
  /** Pixel size of the image. */
  ...size,
  /** Frame size in points the image was made for; a different size now means "out of date". */
  frameWidth: z.number(),
  frameHeight: z.number(),
  /** 1: one IMAGE fill on the frame; more: a locked group of image tiles inside it. */
  tiles: positiveInt,
  /** Hash of the generated IMAGE fill (null when tiled; the tile group carries pluginData "tiles" instead). */
  imageHash: z.string().nullable(),
  createdAt: z.string(),
  /** Frame position in its parent (points) the image was made for; Extend reads which edges moved. Absent in older records. */
  frameX: z.number().optional(),
  frameY: z.number().optional(),
});
export type Generation = z.output<typeof GenerationSchema>;

export const PixelSizeSchema = z.object({
  ...size,
  /** True when the companion's limits made it smaller or larger than asked. */
  clamped: z.boolean(),
});
export type PixelSize = z.output<typeof PixelSizeSchema>;

/** 'aspect': the image would be cropped; 'size': same shape, but not the chosen density any more. */
export const OutdatedReasonSchema = z.enum(['aspect', 'size']);
export type OutdatedReason = z.output<typeof OutdatedReasonSchema>;

export const FrameInfoSchema = z.object({
  id: z.string(),
  name: z.string(),
  /** Frame size in points. */
  ...size,
  /** Pixels Generate (selection: current density) or Regenerate (out-of-date list: stored density) asks for. */
  target: PixelSizeSchema,
  generation: GenerationSchema.nullable(),
  outdated: OutdatedReasonSchema.nullable(),
  /** Pixel size of the image the frame shows now (ours or one the user placed); null when it shows none. */
  image: z.object(size).nullable(),
  /** The action Regenerate proposes for an out-of-date frame (Refine when the aspect held, else Extend); null otherwise. */
  proposed: ActionSchema.nullable(),
});
export type FrameInfo = z.output<typeof FrameInfoSchema>;

export const SelectionStateSchema = z.object({
  frames: z.array(FrameInfoSchema),
  /** The frame Generate creates when nothing is selected; null when something is selected. */
  newFrame: z.object({ ...size, target: PixelSizeSchema }).nullable(),
  /** Selected nodes that are not frames; Generate skips them. */
  skipped: z.number(),
});
export type SelectionState = z.output<typeof SelectionStateSchema>;

/** One piece of a result image, at most MAX_IMAGE_SIDE px per side, at pixel offset (x, y) of the whole image. */
export const ImageTileSchema = z.object({
  x: z.number(),
  y: z.number(),
  ...size,
  /** PNG or JPEG bytes (an init image's tiles: whatever Figma holds, GIF included). */
  bytes,
});
export type ImageTile = z.output<typeof ImageTileSchema>;

export const ImageResultSchema = z.object({ ...size, tiles: z.array(ImageTileSchema).min(1) });
export type ImageResult = z.output<typeof ImageResultSchema>;

/** A rectangle in an image's pixels. */
export const PixelRectSchema = z.object({ x: z.number().int().min(0), y: z.number().int().min(0), width: z.number().int().positive(), height: z.number().int().positive() });
export type PixelRect = z.output<typeof PixelRectSchema>;

/**
 * The picture a Refine or Extend job starts from, as the frame shows it: its tiles as Figma holds them
 * (one, or a grid when it was above MAX_IMAGE_SIDE). The UI stitches them into one image, cuts out
 * `crop`, uploads it (POST /v1/uploads), and sends the job with `init` = the upload id and these fields.
 */
export const InitImageSchema = z.object({
  image: ImageResultSchema,
  /** The part of the image to upload; null: all of it. */
  crop: PixelRectSchema.nullable(),
  strength: strengthOrDefault,
  /** Extend: where the picture goes in the output (job field `keep`); null: Refine, the whole output. */
  keep: fields.keep.nullable(),
});
export type InitImage = z.output<typeof InitImageSchema>;

/** One frame's job: the body of POST /v1/jobs, resolved by the main thread, and where it goes. */
export const JobRequestSchema = z.object({
  jobId: z.string(),
  nodeId: z.string(),
  frameName: z.string(),
  body: FrameJobBodySchema,
  /** Refine and Extend: the picture to upload and start from. */
  init: InitImageSchema.optional(),
});
export type JobRequest = z.output<typeof JobRequestSchema>;

/** What the companion reports about a finished job. */
export const ResultMetaSchema = z.object({
  jobId: z.string(),
  prompt: z.string(),
  seed: fields.seed,
  steps: z.number(),
  guidance: guidanceOrDefault,
  method: fields.method,
  format: fields.format,
  /** As requested (null: the model's default was asked for). */
  dypeScale: dypeScaleOrDefault,
  dypeExponent: dypeExponentOrDefault,
  model: z.string(),
});
export type ResultMeta = z.output<typeof ResultMetaSchema>;

/** Where a result went: its frame, a new frame beside it (it was resized meanwhile), or a new frame (it was deleted). */
export const PlacementSchema = z.enum(['frame', 'beside', 'new-frame']);
export type Placement = z.output<typeof PlacementSchema>;

const message = <T extends string, S extends z.ZodRawShape>(type: T, payload: S) => z.object({ type: z.literal(type), ...payload });
const ids = z.array(z.string());

export const MainToUiSchema = z.discriminatedUnion('type', [
  /**
   * `testOrigins`: only the UI test harness sends it, naming companions on other ports that the UI may
   * then reach; the plugin leaves it out, so the UI allows COMPANION_ORIGINS only.
   */
  message('settings', { settings: SettingsSchema, testOrigins: z.array(z.string()).optional() }),
  message('selection', { selection: SelectionStateSchema }),
  message('outdated', { frames: z.array(FrameInfoSchema) }),
  /** Submit these to the companion and report back with job-preview / job-result / job-ended. */
  message('start-jobs', { jobs: z.array(JobRequestSchema) }),
  message('job-applied', { jobId: z.string(), placement: PlacementSchema, frameName: z.string() }),
  /** The main thread could not place the result (Figma refused the image, …). */
  message('job-failed', { jobId: z.string(), message: z.string() }),
  /** The plugin was started from a relaunch button; run the command once connected. */
  message('relaunch', { command: z.literal('regenerate'), nodeIds: ids }),
]);
export type MainToUi = z.output<typeof MainToUiSchema>;

export const UiToMainSchema = z.discriminatedUnion('type', [
  message('ready', {}),
  message('save-settings', { patch: SettingsSchema.partial() }),
  message('limits', { limits: LimitsSchema.nullable() }),
  /** Generate into the selected frames (or a new frame when nothing is selected) with `action`. */
  message('generate', { params: GenerationParamsSchema, action: ActionSchema.default('reimagine'), upscale: UpscaleSchema.default(2), strength: strengthOrDefault.default(null) }),
  /** Generate again with each frame's stored prompt and seed, at its current size; `action` null: each frame's proposed one. */
  message('regenerate', { nodeIds: ids, action: ActionSchema.nullable().default(null), strength: strengthOrDefault.default(null) }),
  message('job-preview', { jobId: z.string(), png: bytes }),
  message('job-result', { jobId: z.string(), meta: ResultMetaSchema, image: ImageResultSchema }),
  message('job-ended', { jobId: z.string(), outcome: z.enum(['cancelled', 'failed']), message: z.string() }),
  /** Apply a finished image from the history to the selected frames. */
  message('reapply', { meta: ResultMetaSchema, image: ImageResultSchema }),
  message('notify', { message: z.string(), error: z.boolean() }),
]);
export type UiToMain = z.output<typeof UiToMainSchema>;

export type MainToUiType = MainToUi['type'];
export type UiToMainType = UiToMain['type'];
export type MainToUiOf<K extends MainToUiType> = Extract<MainToUi, { type: K }>;
export type UiToMainOf<K extends UiToMainType> = Extract<UiToMain, { type: K }>;
/** A message without its `type`, as `emit(name, payload)` takes it. */
export type PayloadOf<M> = Omit<M, 'type'>;

/**
 * The fields of `value` that fit `schema`, each checked on its own: stored settings from an older
 * version keep every field that is still valid, and a bad field falls back to its default.
 */
export function validFields<S extends z.ZodObject>(schema: S, value: unknown): Partial<z.output<S>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
    const parsed = field.safeParse(record[key]);
    if (parsed.success) out[key] = parsed.data;
  }
  return out as Partial<z.output<S>>;
}
