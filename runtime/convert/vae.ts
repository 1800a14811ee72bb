/**
 * The FLUX autoencoder from BFL's `ae.safetensors` keys (`decoder.*`, `encoder.*`), as in BFL's
 * src/flux/modules/autoencoder.py: ResnetBlocks of GroupNorm(32, eps 1e-6) + swish + 3×3 conv, one
 * single-head AttnBlock in the middle, nearest ×2 Upsample + 3×3 conv, Downsample = zero pad
 * (right, bottom) by one + 3×3 stride-2 conv.
 *
 * The graphs are the bare Decoder and Encoder: the latent scale/shift (0.3611, 0.1159 for FLUX) of
 * AutoEncoder.encode/decode is applied by the pipeline (`vae.scalingFactor`/`shiftFactor` in dype.json).
 *
 * Sizes, all from tensor shapes:
 * - levels: the number of `decoder.up.N` (`encoder.down.N`) children; ×2 per level but the first,
 *   so scaleFactorPx = 2^(levels − 1) (8 for FLUX's 4 levels);
 * - ResnetBlocks per level: `decoder.up.0.block.N` count (num_res_blocks + 1), `encoder.down.0.block.N`;
 * - latent channels: `decoder.conv_in.weight` [width, z, 3, 3] dim 1 (encoder: `conv_out` rows / 2);
 * - every width: each conv's and norm's own weight shape, as it is used.
 * GroupNorm's 32 groups and eps are architecture constants (shapes cannot tell them).
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { silu } from '../onnx/ops.ts';
import { attention, conv2d, countIndexed, groupNorm, shapeOf } from './layers.ts';
import { MissingTensorError, type WeightSource } from './weights.ts';

/** From BFL's AutoEncoder: nn.GroupNorm(num_groups=32, …, eps=1e-6) everywhere. */
export const VAE_GROUPS = 32;
export const VAE_NORM_EPS = 1e-6;

export interface VaeConfig {
  /** Latent channels z (16 for FLUX.1). */
  readonly latentChannels: number;
  readonly imageChannels: number;
  /** Resolution levels (len(ch_mult)). */
  readonly levels: number;
  /** ResnetBlocks per decoder level (num_res_blocks + 1). */
  readonly decoderBlocks: number;
  /** Image pixels per latent pixel per side. */
  readonly scaleFactorPx: number;
  /** The encoder's layout, or null for a decoder-only checkpoint. */
  readonly encoder: { readonly levels: number; readonly blocks: number; readonly imageChannels: number } | null;
}

export function deriveVaeConfig(w: WeightSource): VaeConfig {
  const [, latentChannels] = shapeOf(w, 'decoder.conv_in.weight', [null, null, 3, 3]);
  const [imageChannels] = shapeOf(w, 'decoder.conv_out.weight', [null, null, 3, 3]);
  const levels = countIndexed(w, 'decoder.up.');
  if (levels === 0) throw new MissingTensorError(w.origin, 'decoder.up.0.block.0.conv1.weight');
  const decoderBlocks = countIndexed(w, 'decoder.up.0.block.');
  let encoder: VaeConfig['encoder'] = null;
  if (w.has('encoder.conv_in.weight')) {
    const [, encoderImageChannels] = shapeOf(w, 'encoder.conv_in.weight', [null, null, 3, 3]);
    shapeOf(w, 'encoder.conv_out.weight', [2 * latentChannels, null, 3, 3]);
    encoder = { levels: countIndexed(w, 'encoder.down.'), blocks: countIndexed(w, 'encoder.down.0.block.'), imageChannels: encoderImageChannels };
  }
  return { latentChannels, imageChannels, levels, decoderBlocks, scaleFactorPx: 2 ** (levels - 1), encoder };
}

function resnetBlock(g: GraphBuilder, w: WeightSource, x: string, prefix: string): string {
  return g.scope(prefix, () => {
    let h = silu(g, groupNorm(g, w, x, `${prefix}.norm1`, VAE_GROUPS, VAE_NORM_EPS));
    h = conv2d(g, w, h, `${prefix}.conv1`);
    h = silu(g, groupNorm(g, w, h, `${prefix}.norm2`, VAE_GROUPS, VAE_NORM_EPS));
    h = conv2d(g, w, h, `${prefix}.conv2`);
    // A block that changes width projects its input with a 1×1 conv; the weight shapes say which.
    const [cout, cin] = shapeOf(w, `${prefix}.conv1.weight`, [null, null, 3, 3]);
    const skip = cin !== cout ? conv2d(g, w, x, `${prefix}.nin_shortcut`) : x;
    return g.op('Add', [skip, h], {}, { name: 'out' });
  });
}

/** x + proj_out(attention over all h·w positions, one head of width C, scale 1/√C). */
function attnBlock(g: GraphBuilder, w: WeightSource, x: string, prefix: string): string {
  return g.scope(prefix, () => {
    const [channels] = shapeOf(w, `${prefix}.q.weight`, [null, null, 1, 1]);
    const h = groupNorm(g, w, x, `${prefix}.norm`, VAE_GROUPS, VAE_NORM_EPS);
    const tokens = (name: string) => g.op('Transpose', [g.op('Reshape', [conv2d(g, w, h, `${prefix}.${name}`), g.constI64([0, channels, -1])])], { perm: [0, 2, 1] }); // [1, hw, C]
    const out = attention(g, tokens('q'), tokens('k'), tokens('v'), { scale: 1 / Math.sqrt(channels) });
    const image = g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1] }), g.op('Shape', [x])]);
    return g.op('Add', [x, conv2d(g, w, image, `${prefix}.proj_out`)], {}, { name: 'out' });
  });
}

function middle(g: GraphBuilder, w: WeightSource, x: string, prefix: string): string {
  return resnetBlock(g, w, attnBlock(g, w, resnetBlock(g, w, x, `${prefix}.mid.block_1`), `${prefix}.mid.attn_1`), `${prefix}.mid.block_2`);
}

function head(g: GraphBuilder, w: WeightSource, x: string, prefix: string): string {
  return conv2d(g, w, silu(g, groupNorm(g, w, x, `${prefix}.norm_out`, VAE_GROUPS, VAE_NORM_EPS)), `${prefix}.conv_out`);
}

/** Graph `latent_sample` [1, z, h, w] → `sample` [1, 3, h·f, w·f] in about [-1, 1] (the bundle's vae_decoder). */
export function buildVaeDecoder(g: GraphBuilder, w: WeightSource, cfg: VaeConfig): void {
  let h = g.input('latent_sample', 'float32', [1, cfg.latentChannels, 'latent_height', 'latent_width']);
  h = middle(g, w, conv2d(g, w, h, 'decoder.conv_in'), 'decoder');
  for (let level = cfg.levels - 1; level >= 0; level--) {
    for (let block = 0; block < cfg.decoderBlocks; block++) h = resnetBlock(g, w, h, `decoder.up.${level}.block.${block}`);
    if (level > 0) {
      const up = g.op('Resize', [h, '', g.constF([1, 1, 2, 2])], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, { name: 'upsample' });
      h = conv2d(g, w, up, `decoder.up.${level}.upsample.conv`);
    }
  }
  g.op('Identity', [head(g, w, h, 'decoder')], {}, { outputs: ['sample'] });
  g.output('sample', 'float32', [1, cfg.imageChannels, 'height', 'width']);
}

/**
 * Graph `sample` [1, 3, H, W] (in [-1, 1], sides multiples of scaleFactorPx) → `latent_parameters`
 * [1, 2z, H/f, W/f] (mean ‖ logvar, BFL's DiagonalGaussian input) and `latent_sample`, the mean:
 * the deterministic latent an image-to-image pipeline starts from, before its scale/shift.
 */
export function buildVaeEncoder(g: GraphBuilder, w: WeightSource, cfg: VaeConfig): void {
  const enc = cfg.encoder;
  if (!enc) throw new MissingTensorError(w.origin, 'encoder.conv_in.weight', 'a decoder-only VAE cannot encode');
  let h = g.input('sample', 'float32', [1, enc.imageChannels, 'height', 'width']);
  h = conv2d(g, w, h, 'encoder.conv_in');
  for (let level = 0; level < enc.levels; level++) {
    for (let block = 0; block < enc.blocks; block++) h = resnetBlock(g, w, h, `encoder.down.${level}.block.${block}`);
    if (level < enc.levels - 1) h = conv2d(g, w, h, `encoder.down.${level}.downsample.conv`, { stride: 2, pads: [0, 0, 1, 1] });
  }
  const moments = head(g, w, middle(g, w, h, 'encoder'), 'encoder');
  g.op('Identity', [moments], {}, { outputs: ['latent_parameters'] });
  g.op('Slice', [moments, g.constI64([0]), g.constI64([cfg.latentChannels]), g.constI64([1])], {}, { outputs: ['latent_sample'] });
  g.output('latent_parameters', 'float32', [1, 2 * cfg.latentChannels, 'latent_height', 'latent_width']);
  g.output('latent_sample', 'float32', [1, cfg.latentChannels, 'latent_height', 'latent_width']);
}
