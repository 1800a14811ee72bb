/**
 * FLUX.2 [klein] in the bundle format: its published constants, its contract and its dype.json.
 *
 * Facts from BFL's flux2 code (model.py, autoencoder.py, text_encoder.py, sampling.py) and
 * ComfyUI's FLUX.2 latent format:
 * - 1024² native; the VAE has 32 latent channels at 1/8 and a 2×2 patch makes the transformer's
 *   128 features per token (16 px per token); the latent is normalised by the VAE's BatchNorm
 *   statistics (dype.json vae.latentNorm), with no scale or shift;
 * - RoPE over 4 axes (t, h, w, l) of 32 each, θ 2000;
 * - text: Qwen3's hidden states 9, 18, 27 of a chat-templated prompt padded to 512 tokens;
 * - klein is step-distilled: 4 steps, no guidance; μ of the time shift is BFL's empirical fit.
 */
import { FLUX2_SHIFT } from '../dype/index.ts';
import { BundleConfigSchema, genericPreview, type BundleConfig } from './config.ts';
import type { ContractSpec } from './contract.ts';

/** Published FLUX.2 [klein] constants. */
export const FLUX2_DEFAULTS = Object.freeze({
  nativeResolution: 1024,
  axesDim: Object.freeze([32, 32, 32, 32]) as readonly number[],
  theta: 2000,
  latentChannels: 32,
  vaeScaleFactorPx: 8,
  patchSize: 2,
  /** Qwen3 tokens per prompt (flux2 text_encoder.py MAX_LENGTH). */
  qwenMaxLength: 512,
  /** The Qwen3 hidden states the transformer reads, concatenated per token (OUTPUT_LAYERS_QWEN3). */
  qwenHiddenStates: Object.freeze([9, 18, 27]) as readonly number[],
  steps: 4,
  /** ComfyUI's FLUX.2 preview: one RGB row per VAE latent channel (its 128 features unpatchified to 32). */
  latentRgbFactors: [
    [0.0058, 0.0113, 0.0073],
    [0.0495, 0.0443, 0.0836],
    [-0.0099, 0.0096, 0.0644],
    [0.2144, 0.3009, 0.3652],
    [0.0166, -0.0039, -0.0054],
    [0.0157, 0.0103, -0.016],
    [-0.0398, 0.0902, -0.0235],
    [-0.0052, 0.0095, 0.0109],
    [-0.3527, -0.2712, -0.1666],
    [-0.0301, -0.0356, -0.018],
    [-0.0107, 0.0078, 0.0013],
    [0.0746, 0.009, -0.0941],
    [0.0156, 0.0169, 0.007],
    [-0.0034, -0.004, -0.0114],
    [0.0032, 0.0181, 0.008],
    [-0.0939, -0.0008, 0.0186],
    [0.0018, 0.0043, 0.0104],
    [0.0284, 0.0056, -0.0127],
    [-0.0024, -0.0022, -0.003],
    [0.1207, -0.0026, 0.0065],
    [0.0128, 0.0101, 0.0142],
    [0.0137, -0.0072, -0.0007],
    [0.0095, 0.0092, -0.0059],
    [0.0, -0.0077, -0.0049],
    [-0.0465, -0.0204, -0.0312],
    [0.0095, 0.0012, -0.0066],
    [0.029, -0.0034, 0.0025],
    [0.022, 0.0169, -0.0048],
    [-0.0332, -0.0457, -0.0468],
    [-0.0085, 0.0389, 0.0609],
    [-0.0076, 0.0003, -0.0043],
    [-0.0111, -0.046, -0.0614],
  ] as readonly (readonly [number, number, number])[],
  latentRgbBias: [-0.0329, -0.0718, -0.0851] as readonly [number, number, number],
});

/**
 * The scheduler config written into a klein bundle: diffusers' FlowMatchEulerDiscreteScheduler with
 * dynamic shifting. μ itself follows the family's rule (FLUX2_SHIFT: BFL's empirical fit in tokens
 * and steps), which `dype_shift_mu` records so the bundle says how it is sampled.
 */
export const FLUX2_SCHEDULER: Readonly<Record<string, unknown>> = Object.freeze({
  _class_name: 'FlowMatchEulerDiscreteScheduler',
  base_image_seq_len: 256,
  base_shift: 0.5,
  max_image_seq_len: FLUX2_SHIFT.maxImageSeqLen,
  max_shift: 1.15,
  num_train_timesteps: 1000,
  shift: 3.0,
  use_dynamic_shifting: true,
  dype_shift_mu: FLUX2_SHIFT.mu,
});

/** The klein transformer's and the Qwen3 encoder's I/O as `dype convert` builds them. */
export const FLUX2_CONTRACT: ContractSpec = Object.freeze({
  requiredInputs: ['hidden_states', 'encoder_hidden_states', 'timestep', 'img_ids', 'txt_ids'],
  optionalInputs: ['guidance'],
  textEncoders: {
    qwen: { folder: 'text_encoder', tokenizer: 'tokenizer', inputs: ['input_ids', 'attention_mask'], outputs: ['hidden_states'] },
  },
});

/** Largest output the bundle accepts: DyPE's target of 4096² px. */
const MAX_SIDE = 4096;

export interface Flux2ConfigInputs {
  name: string;
  description: string;
  /** The VAE's latent channels (32) and image pixels per latent pixel (8). */
  vae: { latentChannels: number; scaleFactorPx: number; encoder: boolean };
  /** The BatchNorm statistics per packed feature (latentChannels × patch²). */
  latentNorm: { mean: number[]; variance: number[]; eps: number };
  rope: { axesDim: readonly number[]; theta: number };
}

/** dype.json of a FLUX.2 [klein] bundle; defaultsUsed names each published value the checkpoints could not give. */
export function buildFlux2BundleConfig(input: Flux2ConfigInputs): { config: BundleConfig; defaultsUsed: string[] } {
  const defaultsUsed: string[] = [];
  const { latentChannels, scaleFactorPx } = input.vae;
  const pixelsPerToken = FLUX2_DEFAULTS.patchSize * scaleFactorPx;
  // Test models with smaller VAEs keep the native size in tokens (64 per side).
  const nativeResolution = (FLUX2_DEFAULTS.nativeResolution / (FLUX2_DEFAULTS.patchSize * FLUX2_DEFAULTS.vaeScaleFactorPx)) * pixelsPerToken;
  const published = latentChannels === FLUX2_DEFAULTS.latentRgbFactors.length;
  if (!published) defaultsUsed.push(`preview: a generic projection (FLUX.2's is for 32 latent channels, this VAE has ${latentChannels})`);
  const config = BundleConfigSchema.parse({
    format: 'dype-bundle',
    version: 1,
    family: 'flux2',
    name: input.name,
    description: input.description,
    demo: false,
    nativeResolution,
    pixelsPerToken,
    patchSize: FLUX2_DEFAULTS.patchSize,
    latentChannels,
    vae: { scaleFactorPx, scalingFactor: 1, shiftFactor: 0, encoder: input.vae.encoder, latentNorm: input.latentNorm },
    rope: { axesDim: [...input.rope.axesDim], theta: input.rope.theta, inputs: 'omega' },
    text: { qwenMaxLength: FLUX2_DEFAULTS.qwenMaxLength },
    preview: published
      ? { latentRgbFactors: FLUX2_DEFAULTS.latentRgbFactors.map((r) => [...r]), latentRgbBias: [...FLUX2_DEFAULTS.latentRgbBias] }
      : genericPreview(latentChannels),
    defaults: { steps: FLUX2_DEFAULTS.steps, guidance: null },
    limits: { maxSide: MAX_SIDE, maxPixels: MAX_SIDE * MAX_SIDE },
  });
  return { config, defaultsUsed };
}
