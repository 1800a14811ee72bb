/**
 * The one file shared by plugin/ (Figma main thread) and ui/ (iframe): every message name, its
 * payload, and the plain records both sides pass around. Neither side imports anything else from the
 * other. Messages are `{ type, ...payload }` objects sent as Figma's `pluginMessage`.
 */

// Method and format names come from the pipeline's contract (a pure, dependency-free module), so the
// plugin, the UI and the companion cannot drift apart; `dy-*` re-tune positions at every step (DyPE).
import type { DypeExponent, GenerationMethod as Method, ImageFormat } from '../runtime/pipeline/names.ts';
export { GENERATION_METHODS as METHODS, IMAGE_FORMATS, MAX_DYPE_EXPONENT, MAX_DYPE_SCALE, resolveDypeExponent } from '../runtime/pipeline/names.ts';
export type { Method, ImageFormat, DypeExponent };

/** Figma's limit on an image's width and height; larger results are placed as tiles of at most this size. */
export const MAX_IMAGE_SIDE = 4096;

/** The UI forwards at most one live preview per job this often: each one is a createImage and a fill edit here. */
export const PREVIEW_FORWARD_MS = 1000;

/** The only companion addresses manifest.json's networkAccess lets the UI reach. */
export const COMPANION_ORIGINS: readonly string[] = ['http://127.0.0.1:7860', 'http://localhost:7860'];

/** Pixels per frame point (1×–4×), or a fixed longest side in pixels. */
export type Density = { kind: 'scale'; scale: number } | { kind: 'longest'; px: number };

/** Kept in figma.clientStorage by the main thread, merged over its defaults. */
export interface Settings {
  /** e.g. "http://127.0.0.1:7860". */
  companionUrl: string;
  /** From POST /v1/pair; null until paired. */
  token: string | null;
  prompt: string;
  density: Density;
  method: Method;
  /** null: the model's default. */
  steps: number | null;
  /** null: the model's default. */
  guidance: number | null;
  /** DyPE λs; null: the model's default. */
  dypeScale: number | null;
  /** DyPE λt or 'auto'; null: the model's default. */
  dypeExponent: DypeExponent | null;
  seed: number;
  /** Unlocked: the UI picks a new random seed for every Generate. */
  seedLocked: boolean;
  format: ImageFormat;
}

/** Size limits the companion reports in GET /v1/health. */
export interface Limits {
  minSide: number;
  maxSide: number;
  maxPixels: number;
}

/** Everything that, with a frame's size, describes one generation. */
export interface GenerationParams {
  prompt: string;
  method: Method;
  steps: number | null;
  guidance: number | null;
  /** Absent on frames generated before λ could be set: the model's default. */
  dypeScale?: number | null;
  dypeExponent?: DypeExponent | null;
  seed: number;
  format: ImageFormat;
  density: Density;
}

/** Stored on a frame (pluginData "generation", JSON) once an image was applied to it. */
export interface Generation extends GenerationParams {
  version: 1;
  jobId: string;
  model: string;
  /** Pixel size of the image. */
  width: number;
  height: number;
  /** Frame size in points the image was made for; a different size now means "out of date". */
  frameWidth: number;
  frameHeight: number;
  /** 1: one IMAGE fill on the frame; more: a locked group of image tiles inside it. */
  tiles: number;
  /** Hash of the generated IMAGE fill (null when tiled; the tile group carries pluginData "tiles" instead). */
  imageHash: string | null;
  createdAt: string;
}

export interface PixelSize {
  width: number;
  height: number;
  /** True when the companion's limits made it smaller or larger than asked. */
  clamped: boolean;
}

/** 'aspect': the image would be cropped; 'size': same shape, but not the chosen density any more. */
export type OutdatedReason = 'aspect' | 'size';

export interface FrameInfo {
  id: string;
  name: string;
  /** Frame size in points. */
  width: number;
  height: number;
  /** Pixels Generate (selection: current density) or Regenerate (out-of-date list: stored density) asks for. */
  target: PixelSize;
  generation: Generation | null;
  outdated: OutdatedReason | null;
}

export interface SelectionState {
  frames: FrameInfo[];
  /** The frame Generate creates when nothing is selected; null when something is selected. */
  newFrame: { width: number; height: number; target: PixelSize } | null;
  /** Selected nodes that are not frames; Generate skips them. */
  skipped: number;
}

/** The body of POST /v1/jobs for one frame, resolved by the main thread. */
export interface JobBody {
  id: string;
  prompt: string;
  width: number;
  height: number;
  seed: number;
  steps?: number;
  guidance?: number;
  method: Method;
  format: ImageFormat;
  dypeScale?: number;
  dypeExponent?: DypeExponent;
}

export interface JobRequest {
  jobId: string;
  nodeId: string;
  frameName: string;
  body: JobBody;
}

/** One piece of a result image, at most MAX_IMAGE_SIDE px per side, at pixel offset (x, y) of the whole image. */
export interface ImageTile {
  x: number;
  y: number;
  width: number;
  height: number;
  /** PNG or JPEG bytes. */
  bytes: Uint8Array;
}

export interface ImageResult {
  width: number;
  height: number;
  tiles: ImageTile[];
}

/** What the companion reports about a finished job. */
export interface ResultMeta {
  jobId: string;
  prompt: string;
  seed: number;
  steps: number;
  guidance: number | null;
  method: Method;
  format: ImageFormat;
  /** As requested (null: the model's default was asked for). */
  dypeScale: number | null;
  dypeExponent: DypeExponent | null;
  model: string;
}

/** Where a result went: its frame, a new frame beside it (it was resized meanwhile), or a new frame (it was deleted). */
export type Placement = 'frame' | 'beside' | 'new-frame';

export type MainToUi =
  /**
   * `testOrigins`: only the UI test harness sends it, naming companions on other ports that the UI may
   * then reach; the plugin leaves it out, so the UI allows COMPANION_ORIGINS only.
   */
  | { type: 'settings'; settings: Settings; testOrigins?: string[] }
  | { type: 'selection'; selection: SelectionState }
  | { type: 'outdated'; frames: FrameInfo[] }
  /** Submit these to the companion and report back with job-preview / job-result / job-ended. */
  | { type: 'start-jobs'; jobs: JobRequest[] }
  | { type: 'job-applied'; jobId: string; placement: Placement; frameName: string }
  /** The main thread could not place the result (Figma refused the image, …). */
  | { type: 'job-failed'; jobId: string; message: string }
  /** The plugin was started from a relaunch button; run the command once connected. */
  | { type: 'relaunch'; command: 'regenerate'; nodeIds: string[] };

export type UiToMain =
  | { type: 'ready' }
  | { type: 'save-settings'; patch: Partial<Settings> }
  | { type: 'limits'; limits: Limits | null }
  /** Generate into the selected frames, or a new frame when nothing is selected. */
  | { type: 'generate'; params: GenerationParams }
  /** Generate again with each frame's stored prompt and seed, at its current size. */
  | { type: 'regenerate'; nodeIds: string[] }
  | { type: 'job-preview'; jobId: string; png: Uint8Array }
  | { type: 'job-result'; jobId: string; meta: ResultMeta; image: ImageResult }
  | { type: 'job-ended'; jobId: string; outcome: 'cancelled' | 'failed'; message: string }
  /** Apply a finished image from the history to the selected frames. */
  | { type: 'reapply'; meta: ResultMeta; image: ImageResult }
  | { type: 'notify'; message: string; error: boolean };

export type MainToUiType = MainToUi['type'];
export type UiToMainType = UiToMain['type'];
export type MainToUiOf<K extends MainToUiType> = Extract<MainToUi, { type: K }>;
export type UiToMainOf<K extends UiToMainType> = Extract<UiToMain, { type: K }>;
/** A message without its `type`, as `emit(name, payload)` takes it. */
export type PayloadOf<M> = Omit<M, 'type'>;
