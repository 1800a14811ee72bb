/**
 * FLUX.2 [klein] 4B's and Z-Image-Turbo's memory models from their published shapes, built with the
 * converters' own shape functions on the published configs: what the planner needs for a catalog
 * model before any file exists. Both read Qwen3-4B, each only as deep as its hidden states go (the
 * layers the converted graph keeps). test/memory/qwen3-families-published.test.ts checks each list
 * against the real checkpoints' headers.
 */
import { FLUX2_DEFAULTS } from '../bundle/flux2.ts';
import { ZIMAGE_DEFAULTS } from '../bundle/zimage.ts';
import { FLUX2_ROPE, flux2Shapes, type Flux2Config } from '../convert/flux2.ts';
import { qwen3ReadShapes, type Qwen3Config } from '../convert/qwen3.ts';
import { zimageShapes, type ZImageConfig } from '../convert/zimage.ts';
import { fluxModelMemory, publishedVaeWeights, publishedWeights, type ActivationSizes, type StoredFormat } from './flux.ts';
import { fluxVaeShapes } from './flux1-published.ts';
import type { ModelMemory } from './plan.ts';

type Shapes = Record<string, number[]>;

/** Qwen/Qwen3-4B's config.json (tied embeddings: no lm_head). */
export const QWEN3_4B: Qwen3Config = Object.freeze({ vocabSize: 151936, width: 2560, layers: 36, heads: 32, kvHeads: 8, headDim: 128, mlpWidth: 9728 });

/** FLUX.2 [klein] 4B's transformer (BFL flux2 util.py, "flux.2-klein-4b"): width 3072, 5 double and 20 single blocks, Qwen3-4B's 3 × 2560 text. */
export const FLUX2_KLEIN_4B: Flux2Config = Object.freeze({
  hidden: 3072,
  heads: 24,
  headDim: 128,
  mlpHidden: 9216,
  inChannels: 128,
  contextDim: 3 * QWEN3_4B.width,
  depth: 5,
  depthSingle: 20,
  guidance: false,
  axesDim: [...FLUX2_DEFAULTS.axesDim],
  theta: FLUX2_ROPE.theta,
});

/** Z-Image-Turbo's transformer (Tongyi-MAI/Z-Image-Turbo transformer/config.json): width 3840, 2 + 2 refiner blocks and 30 layers. */
export const ZIMAGE_TURBO: ZImageConfig = Object.freeze({
  hidden: 3840,
  heads: 30,
  headDim: 128,
  mlpHidden: 10240,
  inChannels: 64,
  outChannels: 64,
  capDim: QWEN3_4B.width,
  timeDim: 256,
  timeHidden: 1024,
  adalnDim: 256,
  blocks: { noise_refiner: 2, context_refiner: 2, layers: 30 },
  axesDim: [...ZIMAGE_DEFAULTS.axesDim],
  theta: ZIMAGE_DEFAULTS.theta,
});

/** FLUX.2's autoencoder: FLUX.1's with 32 latent channels, 1×1 quant convs either side, and the latent BatchNorm's statistics. */
export function flux2VaeShapes(): Shapes {
  const z = FLUX2_DEFAULTS.latentChannels;
  const packed = z * FLUX2_DEFAULTS.patchSize ** 2;
  return {
    ...fluxVaeShapes(z),
    'encoder.quant_conv.weight': [2 * z, 2 * z, 1, 1],
    'encoder.quant_conv.bias': [2 * z],
    'decoder.post_quant_conv.weight': [z, z, 1, 1],
    'decoder.post_quant_conv.bias': [z],
    'bn.running_mean': [packed],
    'bn.running_var': [packed],
  };
}

/** Each component's published shapes, as far as the converted graphs read them. */
export interface FamilyShapes {
  transformer: Shapes;
  /** Qwen3-4B up to the deepest hidden state the family reads. */
  qwen3: Shapes;
  vae: Shapes;
}

export function publishedKleinShapes(): FamilyShapes {
  return {
    transformer: Object.fromEntries(flux2Shapes(FLUX2_KLEIN_4B)),
    qwen3: Object.fromEntries(qwen3ReadShapes(QWEN3_4B, FLUX2_DEFAULTS.qwenHiddenStates)),
    vae: flux2VaeShapes(),
  };
}

export function publishedZImageShapes(): FamilyShapes {
  return {
    transformer: Object.fromEntries(zimageShapes(ZIMAGE_TURBO)),
    qwen3: Object.fromEntries(qwen3ReadShapes(QWEN3_4B, [ZIMAGE_DEFAULTS.hiddenState])),
    // FLUX.1's ae.safetensors
    vae: fluxVaeShapes(),
  };
}

/** Both families: 1024² native, a 2×2 patch of an 8× VAE whose widest level is 512, Qwen3-4B's 2560-wide text. */
const sizes = (hidden: number, nativeResolution: number): ActivationSizes => ({ hidden, pixelsPerToken: 16, textWidth: QWEN3_4B.width, vaeScaleFactorPx: 8, vaeWidth: 512, nativeResolution });

/**
 * The planner's view of one of these families: transformer and Qwen3 bf16 as Comfy-Org publishes
 * them; the VAE as `vaeFormat` (only the on-disk tally depends on it: it is read into float32 either
 * way, and klein's flux2-vae dtype is not checked here). Text tokens: the most either family reads per prompt, 512 (klein pads every prompt to 512;
 * Z-Image's transformer takes only the prompt's own rows, at most 512), so the plan holds for any prompt.
 */
function qwen3FamilyMemory(shapes: FamilyShapes, vaeFormat: StoredFormat, activation: ActivationSizes, textTokens: number): ModelMemory {
  return fluxModelMemory(
    {
      transformer: publishedWeights(shapes.transformer, 'BF16'),
      textEncoders: publishedWeights(shapes.qwen3, 'BF16'),
      ...publishedVaeWeights(shapes.vae, vaeFormat),
    },
    { textTokens, sizes: activation },
  );
}

export const kleinModelMemory = (): ModelMemory =>
  qwen3FamilyMemory(publishedKleinShapes(), 'BF16', sizes(FLUX2_KLEIN_4B.hidden, FLUX2_DEFAULTS.nativeResolution), FLUX2_DEFAULTS.qwenMaxLength);

export const zimageModelMemory = (): ModelMemory =>
  qwen3FamilyMemory(publishedZImageShapes(), 'F32', sizes(ZIMAGE_TURBO.hidden, ZIMAGE_DEFAULTS.nativeResolution), ZIMAGE_DEFAULTS.qwenMaxLength);
