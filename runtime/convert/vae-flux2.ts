/**
 * The FLUX.2 autoencoder from BFL's keys (ComfyUI's flux2-vae.safetensors), as in BFL's flux2
 * src/flux2/autoencoder.py: FLUX.1's Encoder and Decoder (vae.ts) with a 1×1 `encoder.quant_conv`
 * after the encoder and a 1×1 `decoder.post_quant_conv` before the decoder, 32 latent channels, and
 * the latent normalised by `bn`, a BatchNorm2d(4·z, eps 1e-4, affine=False) over the 2×2-patchified
 * latent, from its running mean and variance.
 *
 * Unlike FLUX.1's bare decoder, these graphs take and give the transformer's latent: 4·z channels at
 * 1/16 of the image per side, already normalised. The patchify, the BatchNorm and their inverses are
 * inside the graphs, so the pipeline's latent scale is 1 and its shift 0:
 * - decode: decoder(post_quant_conv(unpatchify(z·√(var+eps) + mean)));
 * - encode: (patchify(mean half of quant_conv(encoder(x))) − mean) / √(var+eps).
 * The 2×2 patch keeps channel c's four pixels together: channel c·4 + 2·i + j is pixel (i, j) of
 * channel c (einops "c (h i) (w j) -> (c i j) h w"), which is ONNX's DepthToSpace in CRD mode.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { shapeOf } from './layers.ts';
import { conv, decoderFeatures, deriveVaeConfig, encoderMoments, type Feature, type VaeConfig } from './vae.ts';
import type { WeightSource } from './weights.ts';

/** BFL AutoEncoder.bn_eps and its patch (ps = [2, 2]); neither is in a shape. */
export const FLUX2_VAE_BN_EPS = 1e-4;
export const FLUX2_VAE_PATCH = 2;

export interface Flux2VaeConfig extends VaeConfig {
  /** Channels of the normalised, patchified latent the transformer sees (4·z = 128). */
  readonly patchedChannels: number;
  /** Image pixels per patchified latent pixel per side (16). */
  readonly patchedScalePx: number;
}

export function deriveFlux2VaeConfig(w: WeightSource): Flux2VaeConfig {
  const base = deriveVaeConfig(w);
  const z = base.latentChannels;
  const patchedChannels = z * FLUX2_VAE_PATCH ** 2;
  shapeOf(w, 'decoder.post_quant_conv.weight', [z, z, 1, 1]);
  if (base.encoder) shapeOf(w, 'encoder.quant_conv.weight', [2 * z, 2 * z, 1, 1]);
  shapeOf(w, 'bn.running_mean', [patchedChannels]);
  shapeOf(w, 'bn.running_var', [patchedChannels]);
  return { ...base, patchedChannels, patchedScalePx: base.scaleFactorPx * FLUX2_VAE_PATCH };
}

/** √(running_var + eps) and running_mean as [C, 1, 1], to broadcast over [1, C, h, w]. */
function batchNormStats(g: GraphBuilder, w: WeightSource): { std: string; mean: string } {
  const perChannel = (x: string) => g.op('Unsqueeze', [x, g.constI64([1, 2])]);
  return {
    std: perChannel(g.op('Sqrt', [g.op('Add', [w.value('bn.running_var'), g.constF(FLUX2_VAE_BN_EPS)])], {}, { name: 'bn_std' })),
    mean: perChannel(w.value('bn.running_mean')),
  };
}

/** Graph `latent_sample` [1, 4z, h, w] (normalised, patchified) → `sample` [1, 3, 16h, 16w] in about [-1, 1]. */
export function buildFlux2VaeDecoder(g: GraphBuilder, w: WeightSource, cfg: Flux2VaeConfig): void {
  const latent = g.input('latent_sample', 'float32', [1, cfg.patchedChannels, 'latent_height', 'latent_width']);
  const { std, mean } = batchNormStats(g, w);
  const restored = g.op('Add', [g.op('Mul', [latent, std]), mean], {}, { name: 'bn_inverse' });
  const z: Feature = { value: g.op('DepthToSpace', [restored], { blocksize: FLUX2_VAE_PATCH, mode: 'CRD' }, { name: 'unpatchify' }), channels: cfg.latentChannels };
  g.op('Identity', [decoderFeatures(g, w, conv(g, w, z, 'decoder.post_quant_conv', 1, { cout: cfg.latentChannels }), cfg).value], {}, { outputs: ['sample'] });
  g.output('sample', 'float32', [1, cfg.imageChannels, 'height', 'width']);
}

/**
 * Graph `sample` [1, 3, H, W] (in [-1, 1], sides multiples of 16) → `latent_sample` [1, 4z, H/16,
 * W/16], the normalised patchified mean (BFL AutoEncoder.encode), and `latent_parameters` [1, 2z,
 * H/8, W/8], quant_conv's mean ‖ logvar.
 */
export function buildFlux2VaeEncoder(g: GraphBuilder, w: WeightSource, cfg: Flux2VaeConfig): void {
  const channels = cfg.encoder?.imageChannels ?? cfg.imageChannels;
  const image: Feature = { value: g.input('sample', 'float32', [1, channels, 'height', 'width']), channels };
  const z = cfg.latentChannels;
  const moments = conv(g, w, encoderMoments(g, w, image, cfg), 'encoder.quant_conv', 1, { cout: 2 * z }).value;
  const meanHalf = g.op('Slice', [moments, g.constI64([0]), g.constI64([z]), g.constI64([1])], {}, { name: 'mean_half' });
  // SpaceToDepth orders channels (i, j, c); one Gather puts them in the (c, i, j) order of the patch.
  const blocks = FLUX2_VAE_PATCH ** 2;
  const order = Array.from({ length: z * blocks }, (_, k) => (k % blocks) * z + Math.floor(k / blocks));
  const patched = g.op('Gather', [g.op('SpaceToDepth', [meanHalf], { blocksize: FLUX2_VAE_PATCH }), g.constI64(order)], { axis: 1 }, { name: 'patchify' });
  const { std, mean } = batchNormStats(g, w);
  g.op('Div', [g.op('Sub', [patched, mean]), std], {}, { outputs: ['latent_sample'] });
  g.op('Identity', [moments], {}, { outputs: ['latent_parameters'] });
  g.output('latent_sample', 'float32', [1, cfg.patchedChannels, 'latent_height', 'latent_width']);
  g.output('latent_parameters', 'float32', [1, 2 * z, 'moments_height', 'moments_width']);
}
