/** Cheap live preview: the x0 estimate projected latent → RGB with the bundle's linear factors. */
import sharp from 'sharp';
import type { PreviewImage } from './types.ts';

export interface PreviewProjection {
  latentRgbFactors: readonly (readonly [number, number, number])[];
  latentRgbBias: readonly [number, number, number];
}

/** x0 = x_t − σ·v (flow matching: x_t = (1 − σ)·x0 + σ·ε and v = ε − x0). */
export function estimateX0(latent: Float32Array, velocity: Float32Array, sigma: number): Float32Array {
  const x0 = new Float32Array(latent.length);
  for (let i = 0; i < latent.length; i++) x0[i] = latent[i] - sigma * velocity[i];
  return x0;
}

/** Unpacked latent [C, h, w] → interleaved RGB bytes, one pixel per latent pixel. */
export function projectLatent(latent: Float32Array, channels: number, height: number, width: number, p: PreviewProjection): Uint8Array {
  const plane = height * width;
  const rgb = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) {
      let v = p.latentRgbBias[k];
      for (let c = 0; c < channels; c++) v += latent[c * plane + i] * p.latentRgbFactors[c][k];
      rgb[i * 3 + k] = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
    }
  }
  return rgb;
}

/** PNG whose longer side is between `minSide` and `maxSide` px, keeping the aspect. */
export async function previewPng(rgb: Uint8Array, width: number, height: number, maxSide = 256, minSide = 128): Promise<PreviewImage> {
  const longest = Math.max(width, height);
  const factor = Math.min(maxSide, Math.max(minSide, longest)) / longest;
  const w = Math.max(1, Math.round(width * factor));
  const h = Math.max(1, Math.round(height * factor));
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).resize(w, h, { kernel: 'lanczos3' }).png().toBuffer();
  return { png: new Uint8Array(png), width: w, height: h };
}
