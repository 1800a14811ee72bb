/**
 * What the main thread assumes until told otherwise, and what a frame asks for: its pixel size and
 * its companion request. No figma global here: the UI test harness, which plays the main thread,
 * uses these too.
 */
import { COMPANION_ORIGINS, GENERATION_DEFAULTS, type Density, type FrameJobBody, type GenerationParams, type Limits, type PixelSize, type Settings } from '../runtime/contract/index.ts';

/** What the settings are until the user changes them. */
export const DEFAULT_SETTINGS: Settings = {
  companionUrl: COMPANION_ORIGINS[0],
  token: null,
  prompt: '',
  density: { kind: 'scale', scale: 2 },
  method: GENERATION_DEFAULTS.method,
  steps: null,
  guidance: null,
  dypeScale: null,
  dypeExponent: null,
  seed: 42,
  seedLocked: false,
  format: GENERATION_DEFAULTS.format,
  action: 'reimagine',
  upscale: 2,
  strength: null,
};

/** Used until the companion has reported its own limits. */
export const DEFAULT_LIMITS: Limits = { minSide: 64, maxSide: 8192, maxPixels: 8192 * 8192 };

/**
 * Pixels for a frame of `width` × `height` points: frame size × density (or scaled so the longest
 * side is `px`), rounded, then scaled down to fit the companion's limits or up to its minimum side,
 * keeping the aspect as far as the limits allow.
 */
export function targetPixelSize(width: number, height: number, density: Density, limits: Limits = DEFAULT_LIMITS): PixelSize {
  const w = Math.max(width, 0.01);
  const h = Math.max(height, 0.01);
  const scale = density.kind === 'scale' ? density.scale : density.px / Math.max(w, h);
  let pw = Math.round(w * scale);
  let ph = Math.round(h * scale);
  if (pw >= limits.minSide && ph >= limits.minSide && pw <= limits.maxSide && ph <= limits.maxSide && pw * ph <= limits.maxPixels) {
    return { width: pw, height: ph, clamped: false };
  }
  const exactW = w * scale;
  const exactH = h * scale;
  const down = Math.min(1, limits.maxSide / Math.max(exactW, exactH), Math.sqrt(limits.maxPixels / (exactW * exactH)));
  const up = Math.max(1, limits.minSide / Math.min(exactW * down, exactH * down));
  const f = down * up;
  pw = clamp(Math.floor(exactW * f), limits.minSide, limits.maxSide);
  ph = clamp(Math.floor(exactH * f), limits.minSide, limits.maxSide);
  while (pw * ph > limits.maxPixels && (pw > limits.minSide || ph > limits.minSide)) {
    if (pw >= ph) pw--;
    else ph--;
  }
  return { width: pw, height: ph, clamped: true };
}

/** The companion request for one frame: fields left at the model's default (null) are left out. */
export function frameJobBody(id: string, params: GenerationParams, size: { width: number; height: number }): FrameJobBody {
  return {
    id,
    prompt: params.prompt,
    width: size.width,
    height: size.height,
    seed: params.seed,
    method: params.method,
    format: params.format,
    ...(params.steps === null ? {} : { steps: params.steps }),
    ...(params.guidance === null ? {} : { guidance: params.guidance }),
    ...(params.dypeScale === null ? {} : { dypeScale: params.dypeScale }),
    ...(params.dypeExponent === null ? {} : { dypeExponent: params.dypeExponent }),
  };
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
