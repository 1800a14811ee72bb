/**
 * The FLUX.2 autoencoder from BFL's keys (ComfyUI's flux2-vae.safetensors), as in BFL's flux2
 * src/flux2/autoencoder.py: FLUX.1's Encoder and Decoder (vae.ts) with a 1×1 `encoder.quant_conv`
 * after the encoder and a 1×1 `decoder.post_quant_conv` before the decoder, 32 latent channels, and
 * `bn`, a BatchNorm2d(4·z, eps 1e-4, affine=False) whose running mean and variance normalise the
 * 2×2-patchified latent the transformer sees.
 *
 * The graphs take and give the VAE's own 32-channel latent at 1/8 of the image, as FLUX.1's do; the
 * 2×2 patch is the pipeline's packing (patchSize 2, whose feature order c·4 + 2·i + j is BFL's
 * "c (h i) (w j) -> (c i j) h w"), and the BatchNorm statistics go into dype.json (vae.latentNorm),
 * applied to packed tokens by the family (runtime/families/latents.ts):
 * - decode: decoder(post_quant_conv(unpack(z·√(var+eps) + mean)));
 * - encode: (pack(mean half of quant_conv(encoder(x))) − mean) / √(var+eps).
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { shapeOf } from './layers.ts';
import { readSmallTensor } from './safetensors.ts';
import { conv, decoderFeatures, deriveVaeConfig, encoderMoments, type Feature, type VaeConfig } from './vae.ts';
import type { WeightSource } from './weights.ts';

/** BFL AutoEncoder.bn_eps and its patch (ps = [2, 2]); neither is in a shape. */
export const FLUX2_VAE_BN_EPS = 1e-4;
export const FLUX2_VAE_PATCH = 2;

/** Per packed latent feature (4·z of them), the BatchNorm's running statistics and eps. */
export interface LatentNorm {
  mean: number[];
  variance: number[];
  eps: number;
}

export function deriveFlux2VaeConfig(w: WeightSource): VaeConfig {
  const config = deriveVaeConfig(w);
  const z = config.latentChannels;
  shapeOf(w, 'decoder.post_quant_conv.weight', [z, z, 1, 1]);
  if (config.encoder) shapeOf(w, 'encoder.quant_conv.weight', [2 * z, 2 * z, 1, 1]);
  for (const key of ['bn.running_mean', 'bn.running_var']) shapeOf(w, key, [z * FLUX2_VAE_PATCH ** 2]);
  return config;
}

/** The latent BatchNorm's statistics, read from the checkpoint (256 values for FLUX.2). */
export function readLatentNorm(w: WeightSource): LatentNorm {
  const read = (key: string) => [...readSmallTensor(w.tensor(key))];
  const variance = read('bn.running_var');
  const negative = variance.findIndex((v) => !(v >= 0));
  if (negative >= 0) throw new Error(`${w.origin}: bn.running_var[${negative}] is ${variance[negative]}; a variance must be ≥ 0`);
  return { mean: read('bn.running_mean'), variance, eps: FLUX2_VAE_BN_EPS };
}

/** Graph `latent_sample` [1, z, h, w] (the VAE's latent, un-normalised) → `sample` [1, 3, 8h, 8w] in about [-1, 1]. */
export function buildFlux2VaeDecoder(g: GraphBuilder, w: WeightSource, cfg: VaeConfig): void {
  const z: Feature = { value: g.input('latent_sample', 'float32', [1, cfg.latentChannels, 'latent_height', 'latent_width']), channels: cfg.latentChannels };
  g.op('Identity', [decoderFeatures(g, w, conv(g, w, z, 'decoder.post_quant_conv', 1, { cout: cfg.latentChannels }), cfg).value], {}, { outputs: ['sample'] });
  g.output('sample', 'float32', [1, cfg.imageChannels, 'height', 'width']);
}

/**
 * Graph `sample` [1, 3, H, W] (in [-1, 1], sides multiples of 8) → `latent_parameters` [1, 2z, H/8,
 * W/8], quant_conv's mean ‖ logvar, and `latent_sample`, the mean (BFL AutoEncoder.encode before
 * its patchify and normalisation).
 */
export function buildFlux2VaeEncoder(g: GraphBuilder, w: WeightSource, cfg: VaeConfig): void {
  const channels = cfg.encoder?.imageChannels ?? cfg.imageChannels;
  const image: Feature = { value: g.input('sample', 'float32', [1, channels, 'height', 'width']), channels };
  const z = cfg.latentChannels;
  const moments = conv(g, w, encoderMoments(g, w, image, cfg), 'encoder.quant_conv', 1, { cout: 2 * z }).value;
  g.op('Identity', [moments], {}, { outputs: ['latent_parameters'] });
  g.op('Slice', [moments, g.constI64([0]), g.constI64([z]), g.constI64([1])], {}, { outputs: ['latent_sample'] });
  g.output('latent_parameters', 'float32', [1, 2 * z, 'latent_height', 'latent_width']);
  g.output('latent_sample', 'float32', [1, z, 'latent_height', 'latent_width']);
}
