/**
 * Z-Image-Turbo (Tongyi-MAI, Apache-2.0) in the bundle format: its published constants, its
 * contract and its dype.json.
 *
 * Sources: Tongyi-MAI/Z-Image src/config/model.py and inference.py (RoPE θ 256 over axes 32, 48, 48;
 * sequences padded to multiples of 32; 1024² native; 8 steps with guidance 0 and a static shift of
 * 3.0), src/zimage/pipeline.py (Qwen3 `hidden_states[-2]`, the prompt in Qwen3's chat template with
 * thinking on, so no think block, at most 512 tokens, only the real rows), and ComfyUI's
 * supported_models.py (class ZImage: shift 3.0, FLUX.1's latent format: the AE is FLUX.1's, scale
 * 0.3611 and shift 0.1159, so FLUX.1's VAE graphs serve).
 */
import { BundleConfigSchema, type BundleConfig } from './config.ts';
import type { ContractSpec } from './contract.ts';
import { FLUX_DEFAULTS } from './flux1.ts';

export const ZIMAGE_DEFAULTS = Object.freeze({
  nativeResolution: 1024,
  /** RoPE: the head dim of 128 split over (caption index, row, column). */
  axesDim: Object.freeze([32, 48, 48]) as readonly number[],
  theta: 256,
  /** The image and caption sequences are each padded to a multiple of this many rows (SEQ_MULTI_OF). */
  padMultiple: 32,
  latentChannels: FLUX_DEFAULTS.latentChannels,
  vaeScaleFactorPx: FLUX_DEFAULTS.vaeScaleFactorPx,
  scalingFactor: FLUX_DEFAULTS.scalingFactor,
  shiftFactor: FLUX_DEFAULTS.shiftFactor,
  patchSize: 2,
  /** Qwen3 tokens per prompt (max_sequence_length); the transformer takes only the prompt's own rows. */
  qwenMaxLength: 512,
  /** The Qwen3 hidden state the transformer reads: the output of the second-to-last layer. */
  hiddenState: -2,
  /** The prompt goes through Qwen3's chat template with thinking on (enable_thinking=True): no think block. */
  thinking: true,
  steps: 8,
  /** Turbo is distilled to run without classifier-free guidance, and the model has no guidance input. */
  guidance: null,
});

/** diffusers' FlowMatchEulerDiscreteScheduler config of Z-Image-Turbo: a static shift of 3.0. */
export const ZIMAGE_SCHEDULERS: Readonly<Record<'turbo', Record<string, unknown>>> = Object.freeze({
  turbo: { _class_name: 'FlowMatchEulerDiscreteScheduler', num_train_timesteps: 1000, shift: 3.0, use_dynamic_shifting: false },
});

/** The transformer and the Qwen3 encoder as `dype convert` builds them (runtime/convert/zimage.ts, qwen3.ts). */
export const ZIMAGE_CONTRACT: ContractSpec = Object.freeze({
  requiredInputs: ['hidden_states', 'encoder_hidden_states', 'timestep', 'img_ids', 'txt_ids'],
  optionalInputs: [],
  textEncoders: {
    qwen: { folder: 'text_encoder', tokenizer: 'tokenizer', inputs: ['input_ids', 'attention_mask'], outputs: ['hidden_states'] },
  },
});

const MAX_SIDE = 4096;

export interface ZImageConfigInputs {
  name: string;
  description: string;
  /** Latent channels and resolution levels of the AE (FLUX.1's: 16 and 4, i.e. 8 px per latent pixel). */
  vae: { latentChannels: number; scaleFactorPx: number; encoder: boolean };
}

/** dype.json of a Z-Image bundle; every value is published or read from the checkpoints, so nothing falls back. */
export function buildZImageBundleConfig(input: ZImageConfigInputs): BundleConfig {
  const d = ZIMAGE_DEFAULTS;
  const pixelsPerToken = d.patchSize * input.vae.scaleFactorPx;
  return BundleConfigSchema.parse({
    format: 'dype-bundle',
    version: 1,
    family: 'zimage',
    name: input.name,
    description: input.description,
    demo: false,
    nativeResolution: Math.max(pixelsPerToken, Math.round(d.nativeResolution / pixelsPerToken) * pixelsPerToken),
    pixelsPerToken,
    patchSize: d.patchSize,
    latentChannels: input.vae.latentChannels,
    vae: { scaleFactorPx: input.vae.scaleFactorPx, scalingFactor: d.scalingFactor, shiftFactor: d.shiftFactor, encoder: input.vae.encoder },
    rope: { axesDim: [...d.axesDim], theta: d.theta, inputs: 'omega' },
    text: { qwenMaxLength: d.qwenMaxLength },
    preview: { latentRgbFactors: FLUX_DEFAULTS.latentRgbFactors.map((r) => [...r]), latentRgbBias: [...FLUX_DEFAULTS.latentRgbBias] },
    defaults: { steps: d.steps, guidance: d.guidance },
    limits: { maxSide: MAX_SIDE, maxPixels: MAX_SIDE * MAX_SIDE },
  });
}
