/**
 * Extend (outpaint): the keep rectangle's feathered weight, the per-step latent blend toward the
 * init's noised trajectory (RePaint), and the exact pixel composite at the end. Pure; no ORT, no I/O.
 */

/** Where the init image is kept, in pixels of the image being composed; `feather` px of blend inside its edges. */
export interface KeepRect {
  x: number;
  y: number;
  width: number;
  height: number;
  feather: number;
}

/**
 * Weight along one axis at pixel centre p + ½: 1 deep inside [start, end), a linear ramp over `feather`
 * px inside each edge, 0 outside. An edge on the frame border (0 or `length`) has no ramp: the kept
 * image continues to the border, there is nothing to blend with.
 */
export function axisKeepWeight(p: number, start: number, end: number, feather: number, length: number): number {
  const centre = p + 0.5;
  if (centre < start || centre > end) return 0;
  if (feather <= 0) return 1;
  const fromStart = start <= 0 ? Infinity : (centre - start) / feather;
  const fromEnd = end >= length ? Infinity : (end - centre) / feather;
  return Math.min(1, fromStart, fromEnd);
}

/** Per-pixel keep weight of a width × height frame: min of the two axes' ramps (rows of `width`). */
function keepWeights(keep: KeepRect, width: number, height: number): { rows: Float32Array; cols: Float32Array } {
  const rows = Float32Array.from({ length: height }, (_, y) => axisKeepWeight(y, keep.y, keep.y + keep.height, keep.feather, height));
  const cols = Float32Array.from({ length: width }, (_, x) => axisKeepWeight(x, keep.x, keep.x + keep.width, keep.feather, width));
  return { rows, cols };
}

/**
 * The keep mask on the latent grid [h, w]: the mean pixel weight of each latent pixel's `scale` × `scale`
 * block (a latent pixel half inside the rectangle is half kept).
 */
export function latentKeepMask(keep: KeepRect, latentHeight: number, latentWidth: number, scale: number): Float32Array {
  const { rows, cols } = keepWeights(keep, latentWidth * scale, latentHeight * scale);
  const mask = new Float32Array(latentHeight * latentWidth);
  for (let ly = 0; ly < latentHeight; ly++) {
    for (let lx = 0; lx < latentWidth; lx++) {
      let sum = 0;
      for (let dy = 0; dy < scale; dy++) {
        const wy = rows[ly * scale + dy];
        if (wy === 0) continue;
        for (let dx = 0; dx < scale; dx++) sum += Math.min(wy, cols[lx * scale + dx]);
      }
      mask[ly * latentWidth + lx] = sum / (scale * scale);
    }
  }
  return mask;
}

/**
 * RePaint-style blend after a step: where the mask keeps, x moves to the init's trajectory at σ,
 *   x ← m·((1 − σ)·x₀ + σ·ε) + (1 − m)·x,
 * so the model sees the old picture at every noise level and draws the new area to match it.
 * All arrays share one layout (packed tokens); `mask` is that layout's per-element weight.
 */
export function blendTowardInit(x: Float32Array, x0: Float32Array, noise: Float32Array, mask: Float32Array, sigma: number): Float32Array {
  for (let i = 0; i < x.length; i++) {
    const m = mask[i];
    if (m === 0) continue;
    const target = (1 - sigma) * x0[i] + sigma * noise[i];
    x[i] = m === 1 ? target : m * target + (1 - m) * x[i];
  }
  return x;
}

/**
 * Puts the init's pixels back over the kept region of `generated` (interleaved RGB, same size as
 * `init`): w·init + (1 − w)·generated with the feathered weight, so pixels where w = 1 are the init's
 * exactly. Writes into `generated`.
 */
export function compositeKept(generated: Uint8Array, init: Uint8Array, width: number, height: number, keep: KeepRect): Uint8Array {
  const { rows, cols } = keepWeights(keep, width, height);
  for (let y = 0; y < height; y++) {
    const wy = rows[y];
    if (wy === 0) continue;
    for (let x = 0; x < width; x++) {
      const w = Math.min(wy, cols[x]);
      if (w === 0) continue;
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) generated[o + k] = w === 1 ? init[o + k] : Math.round(w * init[o + k] + (1 - w) * generated[o + k]);
    }
  }
  return generated;
}
