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
 *
 * diffusers `AutoencoderKL` checkpoints are read through BFL's names (vae-diffusers.ts), so every
 * function here takes either layout.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { silu } from '../onnx/ops.ts';
import { attention, conv2d, countIndexed, groupNorm, shapeOf } from './layers.ts';
import { withBflVaeNames } from './vae-diffusers.ts';
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

export function deriveVaeConfig(source: WeightSource): VaeConfig {
  const w = withBflVaeNames(source);
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

/** A feature map and its channel count, so each weight's shape is checked where it is used. */
export interface Feature {
  readonly value: string;
  readonly channels: number;
}

/** Checks `prefix.weight` against [cout, cin, k, k] (and `prefix.bias` against [cout]) before a conv. */
export function conv(g: GraphBuilder, w: WeightSource, x: Feature, prefix: string, k: 1 | 3, options: { cout?: number; stride?: number; pads?: readonly number[] } = {}): Feature {
  const [cout] = shapeOf(w, `${prefix}.weight`, [options.cout ?? null, x.channels, k, k]);
  shapeOf(w, `${prefix}.bias`, [cout]);
  return { value: conv2d(g, w, x.value, prefix, options), channels: cout };
}

function norm(g: GraphBuilder, w: WeightSource, x: Feature, prefix: string): Feature {
  shapeOf(w, `${prefix}.weight`, [x.channels]);
  shapeOf(w, `${prefix}.bias`, [x.channels]);
  return { value: groupNorm(g, w, x.value, prefix, VAE_GROUPS, VAE_NORM_EPS), channels: x.channels };
}

const swish = (g: GraphBuilder, x: Feature): Feature => ({ value: silu(g, x.value), channels: x.channels });

function resnetBlock(g: GraphBuilder, w: WeightSource, x: Feature, prefix: string): Feature {
  return g.scope(prefix, () => {
    const h1 = conv(g, w, swish(g, norm(g, w, x, `${prefix}.norm1`)), `${prefix}.conv1`, 3);
    const h2 = conv(g, w, swish(g, norm(g, w, h1, `${prefix}.norm2`)), `${prefix}.conv2`, 3, { cout: h1.channels });
    // A block that changes width projects its input with a 1×1 conv.
    const skip = x.channels !== h2.channels ? conv(g, w, x, `${prefix}.nin_shortcut`, 1, { cout: h2.channels }) : x;
    return { value: g.op('Add', [skip.value, h2.value], {}, { name: 'out' }), channels: h2.channels };
  });
}

/** A 1×1 conv C → C from BFL's conv weight [C, C, 1, 1] or diffusers' Linear weight [C, C]. */
function projection(g: GraphBuilder, w: WeightSource, x: string, prefix: string, c: number): string {
  const key = `${prefix}.weight`;
  const linear = w.has(key) && w.shape(key).length === 2;
  shapeOf(w, key, linear ? [c, c] : [c, c, 1, 1]);
  shapeOf(w, `${prefix}.bias`, [c]);
  const weight = linear ? g.op('Unsqueeze', [w.value(key), g.constI64([2, 3])], {}, { name: 'as_conv' }) : w.value(key);
  return g.op('Conv', [x, weight, w.value(`${prefix}.bias`)], { kernel_shape: [1, 1] }, { name: 'conv' });
}

/** x + proj_out(attention over all h·w positions, one head of width C, scale 1/√C). */
function attnBlock(g: GraphBuilder, w: WeightSource, x: Feature, prefix: string): Feature {
  return g.scope(prefix, () => {
    const c = x.channels;
    const h = norm(g, w, x, `${prefix}.norm`);
    const tokens = (name: string) => g.op('Transpose', [g.op('Reshape', [projection(g, w, h.value, `${prefix}.${name}`, c), g.constI64([0, c, -1])])], { perm: [0, 2, 1] }); // [1, hw, C]
    const out = attention(g, tokens('q'), tokens('k'), tokens('v'), { scale: 1 / Math.sqrt(c) });
    const image = g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1] }), g.op('Shape', [x.value])]);
    return { value: g.op('Add', [x.value, projection(g, w, image, `${prefix}.proj_out`, c)], {}, { name: 'out' }), channels: c };
  });
}

function middle(g: GraphBuilder, w: WeightSource, x: Feature, prefix: string): Feature {
  return resnetBlock(g, w, attnBlock(g, w, resnetBlock(g, w, x, `${prefix}.mid.block_1`), `${prefix}.mid.attn_1`), `${prefix}.mid.block_2`);
}

function head(g: GraphBuilder, w: WeightSource, x: Feature, prefix: string, cout: number): Feature {
  return conv(g, w, swish(g, norm(g, w, x, `${prefix}.norm_out`)), `${prefix}.conv_out`, 3, { cout });
}

/** The decoder from its conv_in to its conv_out: z channels in, image channels out (BFL Decoder.forward). */
export function decoderFeatures(g: GraphBuilder, w: WeightSource, z: Feature, cfg: VaeConfig): Feature {
  let h = middle(g, w, conv(g, w, z, 'decoder.conv_in', 3), 'decoder');
  for (let level = cfg.levels - 1; level >= 0; level--) {
    for (let block = 0; block < cfg.decoderBlocks; block++) h = resnetBlock(g, w, h, `decoder.up.${level}.block.${block}`);
    if (level > 0) {
      const up = g.op('Resize', [h.value, '', g.constF([1, 1, 2, 2])], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, { name: 'upsample' });
      h = conv(g, w, { value: up, channels: h.channels }, `decoder.up.${level}.upsample.conv`, 3, { cout: h.channels });
    }
  }
  return head(g, w, h, 'decoder', cfg.imageChannels);
}

/** The encoder from its conv_in to its conv_out: image in, 2z moments (mean ‖ logvar) out (BFL Encoder.forward). */
export function encoderMoments(g: GraphBuilder, w: WeightSource, image: Feature, cfg: VaeConfig): Feature {
  const enc = cfg.encoder;
  if (!enc) throw new MissingTensorError(w.origin, 'encoder.conv_in.weight', 'a decoder-only VAE cannot encode');
  let h = conv(g, w, image, 'encoder.conv_in', 3);
  for (let level = 0; level < enc.levels; level++) {
    for (let block = 0; block < enc.blocks; block++) h = resnetBlock(g, w, h, `encoder.down.${level}.block.${block}`);
    if (level < enc.levels - 1) h = conv(g, w, h, `encoder.down.${level}.downsample.conv`, 3, { cout: h.channels, stride: 2, pads: [0, 0, 1, 1] });
  }
  return head(g, w, middle(g, w, h, 'encoder'), 'encoder', 2 * cfg.latentChannels);
}

/** Graph `latent_sample` [1, z, h, w] → `sample` [1, 3, h·f, w·f] in about [-1, 1] (the bundle's vae_decoder). */
export function buildVaeDecoder(g: GraphBuilder, source: WeightSource, cfg: VaeConfig): void {
  const w = withBflVaeNames(source);
  const z = { value: g.input('latent_sample', 'float32', [1, cfg.latentChannels, 'latent_height', 'latent_width']), channels: cfg.latentChannels };
  g.op('Identity', [decoderFeatures(g, w, z, cfg).value], {}, { outputs: ['sample'] });
  g.output('sample', 'float32', [1, cfg.imageChannels, 'height', 'width']);
}

/**
 * Graph `sample` [1, 3, H, W] (in [-1, 1], sides multiples of scaleFactorPx) → `latent_parameters`
 * [1, 2z, H/f, W/f] (mean ‖ logvar, BFL's DiagonalGaussian input) and `latent_sample`, the mean:
 * the deterministic latent an image-to-image pipeline starts from, before its scale/shift.
 */
export function buildVaeEncoder(g: GraphBuilder, source: WeightSource, cfg: VaeConfig): void {
  const w = withBflVaeNames(source);
  const channels = cfg.encoder?.imageChannels ?? cfg.imageChannels;
  const image = { value: g.input('sample', 'float32', [1, channels, 'height', 'width']), channels };
  const moments = encoderMoments(g, w, image, cfg).value;
  g.op('Identity', [moments], {}, { outputs: ['latent_parameters'] });
  g.op('Slice', [moments, g.constI64([0]), g.constI64([cfg.latentChannels]), g.constI64([1])], {}, { outputs: ['latent_sample'] });
  g.output('latent_parameters', 'float32', [1, 2 * cfg.latentChannels, 'latent_height', 'latent_width']);
  g.output('latent_sample', 'float32', [1, cfg.latentChannels, 'latent_height', 'latent_width']);
}
