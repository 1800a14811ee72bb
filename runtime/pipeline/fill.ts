/**
 * FLUX Fill bundles: the transformer takes, beside each token's noisy latent, the latent of the masked
 * image and the mask (diffusers' FluxFillPipeline). Detected from the width of `hidden_states`; the
 * feeds are laid out here. Pure; no ORT, no I/O.
 *
 * Per token: [ latent (C·p²) | masked-image latent (C·p²) | mask (f²·p²) ], where the mask (1 = draw,
 * 0 = keep) at pixel resolution is folded space-to-depth by the VAE factor f (channel dy·f + dx) and
 * then packed like the latents.
 */
import { packLatents } from './latents.ts';
import type { KeepRect } from './keep.ts';

type TransformerKind = 'plain' | 'fill';

/** Which feed a transformer takes, from the width of its hidden_states (null: neither). */
export function transformerKind(width: number, latentFeatures: number, vaeScale: number, patch: number): TransformerKind | null {
  if (width === latentFeatures) return 'plain';
  if (width === 2 * latentFeatures + fillMaskFeatures(vaeScale, patch)) return 'fill';
  return null;
}

export function fillMaskFeatures(vaeScale: number, patch: number): number {
  return vaeScale * vaeScale * patch * patch;
}

/**
 * The mask channels, packed [tokens, f²·p²]: 1 outside `keep` (drawn), 0 inside; no keep draws all.
 * The rectangle is hard here (diffusers binarises the mask); the feather is the final composite's.
 */
export function packedFillMask(keep: KeepRect | null, latent: { height: number; width: number }, vaeScale: number, patch: number): Float32Array {
  const f = vaeScale;
  const { height: h, width: w } = latent;
  const mask = new Float32Array(f * f * h * w);
  for (let dy = 0; dy < f; dy++) {
    for (let dx = 0; dx < f; dx++) {
      const plane = (dy * f + dx) * h * w;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const [px, py] = [x * f + dx, y * f + dy];
          const kept = keep !== null && px >= keep.x && px < keep.x + keep.width && py >= keep.y && py < keep.y + keep.height;
          mask[plane + y * w + x] = kept ? 0 : 1;
        }
      }
    }
  }
  return packLatents(mask, { channels: f * f, height: h, width: w }, patch);
}

/**
 * Each token's values of `a` followed by its values of `b` (both packed [tokens, …]): the condition
 * [masked-image latent | mask], and each step's hidden_states [latent | condition]. Writes into `out`
 * when given (a step reuses one buffer).
 */
export function interleaveTokens(a: Float32Array, b: Float32Array, tokens: number, out: Float32Array = new Float32Array(a.length + b.length)): Float32Array {
  const fa = a.length / tokens;
  const fb = b.length / tokens;
  for (let t = 0; t < tokens; t++) {
    out.set(a.subarray(t * fa, (t + 1) * fa), t * (fa + fb));
    out.set(b.subarray(t * fb, (t + 1) * fb), t * (fa + fb) + fa);
  }
  return out;
}
