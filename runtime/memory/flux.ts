/**
 * FLUX.1's memory model from published shapes: what the planner needs when no bundle exists yet
 * (the README's table, `bench/`), and the layers city96's GGUF files leave unquantised.
 */
import type { ModelMemory } from './plan.ts';
import { addWeights, floatWeights, GGUF_BLOCK_FORMATS, quantizedWeights, type ComponentWeights } from './weights.ts';

/** city96's convert.py keeps these FLUX layers in float: the input and output projections and the embedders. */
export function fluxKeepsFloat(key: string): boolean {
  return /^(img_in|txt_in|time_in|vector_in|guidance_in|final_layer)\./.test(key);
}

/** The sizes a family's activations scale with. */
export interface ActivationSizes {
  hidden: number;
  pixelsPerToken: number;
  /** The text encoder's width (T5's 4096, Qwen3-4B's 2560). */
  textWidth: number;
  vaeScaleFactorPx: number;
  /** The VAE decoder's widest channel count. */
  vaeWidth: number;
  nativeResolution: number;
}

/** FLUX.1's sizes that activations scale with (black-forest-labs/flux util.py, configs["flux-dev"]). */
export const FLUX1_SIZES = Object.freeze({ hidden: 3072, textTokensDev: 512, textTokensSchnell: 256, pixelsPerToken: 16, textWidth: 4096, vaeScaleFactorPx: 8, vaeWidth: 512, nativeResolution: 1024 });

/** A FLUX-style DiT's memory model (FLUX.1 unless `sizes` says otherwise): its weights and the sizes its activations scale with. */
export function fluxModelMemory(
  weights: ModelMemory['weights'],
  opts: { textTokens?: number; halfGraph?: boolean; tile?: number; sizes?: ActivationSizes } = {},
): ModelMemory {
  const s = opts.sizes ?? FLUX1_SIZES;
  const textTokens = opts.textTokens ?? FLUX1_SIZES.textTokensDev;
  return {
    weights,
    transformer: { hidden: s.hidden, textTokens, pixelsPerToken: s.pixelsPerToken, halfGraph: opts.halfGraph ?? true },
    textEncoder: { tokens: textTokens, width: s.textWidth },
    vae: { scaleFactorPx: s.vaeScaleFactorPx, tile: opts.tile ?? s.nativeResolution / s.vaeScaleFactorPx, width: s.vaeWidth },
  };
}

/** Published key → shape lists of FLUX.1's four checkpoints. */
export interface PublishedShapes {
  transformer: Readonly<Record<string, readonly number[]>>;
  clip: Readonly<Record<string, readonly number[]>>;
  t5: Readonly<Record<string, readonly number[]>>;
  /** ae.safetensors: encoder.* and decoder.* */
  vae: Readonly<Record<string, readonly number[]>>;
}

/** How a checkpoint is stored: a safetensors float dtype, or a GGUF block type (city96's files). */
export type StoredFormat = 'BF16' | 'F16' | 'F32' | 'F8_E4M3' | keyof typeof GGUF_BLOCK_FORMATS;

const entries = (shapes: Readonly<Record<string, readonly number[]>>, keep: (key: string) => boolean = () => true) =>
  Object.entries(shapes)
    .filter(([key]) => keep(key) && !key.endsWith('position_ids'))
    .map(([key, shape]) => ({ key, shape }));

/** One component's weights stored as `format` (GGUF: city96's layout, the float layers and 1-D tensors in F32). */
export function publishedWeights(
  shapes: Readonly<Record<string, readonly number[]>>,
  format: StoredFormat,
  opts: { keepFloat?: (key: string) => boolean; only?: (key: string) => boolean } = {},
): ComponentWeights {
  const tensors = entries(shapes, opts.only);
  if (format in GGUF_BLOCK_FORMATS) return quantizedWeights(tensors, { format, floatDtype: 'F32', keepFloat: opts.keepFloat ?? (() => false) });
  return floatWeights(tensors.map((t) => ({ shape: t.shape, dtype: format })));
}

/**
 * FLUX.1's weights for a transformer stored as `transformer` and a T5 stored as `t5` (CLIP and the
 * VAE as published: fp32 safetensors, read into the float32 compute type either way).
 */
export function publishedFluxWeights(shapes: PublishedShapes, formats: { transformer: StoredFormat; t5: StoredFormat }): ModelMemory['weights'] {
  return {
    transformer: publishedWeights(shapes.transformer, formats.transformer, { keepFloat: fluxKeepsFloat }),
    // T5's token embedding is a Gather table, not a MatMul: it stays float.
    textEncoders: addWeights(publishedWeights(shapes.clip, 'F32'), publishedWeights(shapes.t5, formats.t5, { keepFloat: (key) => key === 'shared.weight' })),
    ...publishedVaeWeights(shapes.vae, 'F32'),
  };
}

/** A BFL-layout autoencoder's decoder (`decoder.*`) and encoder (`encoder.*`) weights; other keys (FLUX.2's latent BatchNorm) are not graph weights. */
export function publishedVaeWeights(shapes: Readonly<Record<string, readonly number[]>>, format: StoredFormat): Pick<ModelMemory['weights'], 'vaeDecoder' | 'vaeEncoder'> {
  return {
    vaeDecoder: publishedWeights(shapes, format, { only: (key) => key.startsWith('decoder.') }),
    vaeEncoder: publishedWeights(shapes, format, { only: (key) => key.startsWith('encoder.') }),
  };
}
