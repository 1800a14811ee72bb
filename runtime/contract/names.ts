/**
 * Names and limits every front end shares: the CLI, the companion, and (bundled into the Figma
 * plugin and UI) the rest of the wire contract beside it. No imports and no platform types, so any
 * build can take it.
 */

/** User-facing method names: `dy-*` rescale RoPE per step (DyPE); the others are static. */
export const GENERATION_METHODS = ['dy-yarn', 'dy-vision-yarn', 'dy-ntk', 'dy-pi', 'yarn', 'ntk', 'pi', 'base'] as const;
export type GenerationMethod = (typeof GENERATION_METHODS)[number];

export const IMAGE_FORMATS = ['png', 'jpg'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** Request limits; each bundle adds its own size caps. */
export const MIN_SIDE = 64;
export const MAX_STEPS = 100;

/**
 * DyPE's two controls, k(t) = λs·t^λt (ComfyUI-DyPE's `dype_scale` and `dype_exponent`): λs is how
 * strongly positions are rescaled at the start, λt how fast that fades as the image sharpens.
 * Both are accepted from 0 to these maxima at every edge.
 */
export const MAX_DYPE_SCALE = 8;
export const MAX_DYPE_EXPONENT = 8;

/** λt, or `auto`: picked from how far past the model's native size the image goes. */
export type DypeExponent = number | 'auto';

/**
 * What `auto` picks, by the scale factor s = longer side / native side (FLUX: 1024 px), after
 * ComfyUI-DyPE's advice: from s ≥ 3.5 (4K and up, 3840 px UHD included) 2.0, a fast fade; from
 * s ≥ 2 (about 2K–3K) 1.0, linear; below 2× (just above native) 0.5, a slow fade that keeps the
 * mild rescaling for longer. At s ≤ 1 nothing is rescaled, so the value does not matter.
 */
export const AUTO_DYPE_EXPONENTS: readonly { fromScale: number; exponent: number }[] = [
  { fromScale: 3.5, exponent: 2 },
  { fromScale: 2, exponent: 1 },
  { fromScale: 0, exponent: 0.5 },
];

/** λt for an image of width × height px on a model trained at `nativeResolution` px per side. */
export function resolveDypeExponent(exponent: DypeExponent, width: number, height: number, nativeResolution: number): number {
  if (exponent !== 'auto') return exponent;
  const scale = Math.max(width, height) / nativeResolution;
  return (AUTO_DYPE_EXPONENTS.find((step) => scale >= step.fromScale) ?? AUTO_DYPE_EXPONENTS[AUTO_DYPE_EXPONENTS.length - 1]).exponent;
}
