/**
 * The VAE's latent normalisation as dype.json describes it, on packed tokens [N, F]: FLUX.1's
 * scale and shift, and FLUX.2's BatchNorm-style per-feature mean and variance (vae.latentNorm).
 * Pure: no ORT, no I/O.
 */
import type { BundleConfig } from '../bundle/config.ts';

/** Model space → the VAE decoder's space: x = (z·√(var + eps) + mean) / scalingFactor + shiftFactor. */
export function toVaeLatents(packed: Float32Array, config: BundleConfig): void {
  const { scalingFactor, shiftFactor, latentNorm } = config.vae;
  const features = config.latentChannels * config.patchSize ** 2;
  const std = latentNorm?.variance.map((v) => Math.sqrt(v + latentNorm.eps));
  for (let i = 0; i < packed.length; i++) {
    const z = std ? packed[i] * std[i % features] + latentNorm!.mean[i % features] : packed[i];
    packed[i] = z / scalingFactor + shiftFactor;
  }
}

/** The VAE encoder's space → model space, the inverse of toVaeLatents. */
export function fromVaeLatents(packed: Float32Array, config: BundleConfig): void {
  const { scalingFactor, shiftFactor, latentNorm } = config.vae;
  const features = config.latentChannels * config.patchSize ** 2;
  const std = latentNorm?.variance.map((v) => Math.sqrt(v + latentNorm.eps));
  for (let i = 0; i < packed.length; i++) {
    const x = (packed[i] - shiftFactor) * scalingFactor;
    packed[i] = std ? (x - latentNorm!.mean[i % features]) / std[i % features] : x;
  }
}
