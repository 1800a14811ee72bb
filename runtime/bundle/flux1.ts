/**
 * FLUX.1 in the bundle format: its published constants, its contract, and its dype.json, built from
 * what `dype import` finds in an export's own configs (transformer/config.json,
 * scheduler/scheduler_config.json, vae_decoder/config.json) or `dype convert` derives from the
 * checkpoints, with FLUX.1 defaults where a value is missing. Every default used is reported.
 */
import { FLUX_DYPE_DEFAULTS } from '../dype/index.ts';
import { BundleConfigSchema, genericPreview, type BundleConfig } from './config.ts';
import type { ContractSpec } from './contract.ts';

export type FluxVariant = 'dev' | 'krea-dev' | 'schnell';

/**
 * Published FLUX.1 constants, as listed in ../shared/reference/flux.json (FLUX VAE config, the
 * diffusers scheduler configs of FLUX.1-dev/-schnell/-Krea-dev, ComfyUI's FLUX latent preview).
 */
export const FLUX_DEFAULTS = Object.freeze({
  nativeResolution: 1024,
  axesDim: FLUX_DYPE_DEFAULTS.axesDim,
  theta: FLUX_DYPE_DEFAULTS.theta,
  latentChannels: 16,
  vaeScaleFactorPx: 8,
  scalingFactor: 0.3611,
  shiftFactor: 0.1159,
  patchSize: 2,
  clipMaxLength: 77,
  t5MaxLength: { dev: 512, 'krea-dev': 512, schnell: 256 } as Readonly<Record<FluxVariant, number>>,
  steps: { dev: 28, 'krea-dev': 28, schnell: 4 } as Readonly<Record<FluxVariant, number>>,
  guidance: { dev: 3.5, 'krea-dev': 4.5, schnell: null } as Readonly<Record<FluxVariant, number | null>>,
  latentRgbFactors: [
    [-0.0346, 0.0244, 0.0681],
    [0.0034, 0.021, 0.0687],
    [0.0275, -0.0668, -0.0433],
    [-0.0174, 0.016, 0.0617],
    [0.0859, 0.0721, 0.0329],
    [0.0004, 0.0383, 0.0115],
    [0.0405, 0.0861, 0.0915],
    [-0.0236, -0.0185, -0.0259],
    [-0.0245, 0.025, 0.118],
    [0.1008, 0.0755, -0.0421],
    [-0.0515, 0.0201, 0.0011],
    [0.0428, -0.0012, -0.0036],
    [0.0817, 0.0765, 0.0749],
    [-0.1264, -0.0522, -0.1103],
    [-0.028, -0.0881, -0.0499],
    [-0.1262, -0.0982, -0.0778],
  ] as readonly (readonly [number, number, number])[],
  latentRgbBias: [-0.0329, -0.0718, -0.0851] as readonly [number, number, number],
});

/** diffusers' FlowMatchEulerDiscreteScheduler configs of FLUX.1-dev and -schnell (flux.json "scheduler"). */
export const FLUX_SCHEDULERS: Readonly<Record<'dev' | 'schnell', Record<string, unknown>>> = Object.freeze({
  dev: {
    _class_name: 'FlowMatchEulerDiscreteScheduler',
    base_image_seq_len: 256,
    base_shift: 0.5,
    max_image_seq_len: 4096,
    max_shift: 1.15,
    num_train_timesteps: 1000,
    shift: 3.0,
    use_dynamic_shifting: true,
  },
  schnell: {
    _class_name: 'FlowMatchEulerDiscreteScheduler',
    base_image_seq_len: 256,
    base_shift: 0.5,
    max_image_seq_len: 4096,
    max_shift: 1.15,
    num_train_timesteps: 1000,
    shift: 1.0,
    use_dynamic_shifting: false,
  },
});

/** The transformer's and text encoders' I/O, as optimum (transformers) and BFL's exporter name them. */
export const FLUX1_CONTRACT: ContractSpec = Object.freeze({
  requiredInputs: ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep', 'img_ids', 'txt_ids'],
  optionalInputs: ['guidance'],
  textEncoders: {
    clip: { folder: 'text_encoder', tokenizer: 'tokenizer', inputs: ['input_ids'], outputs: ['pooler_output', 'pooled_embeddings'] },
    t5: { folder: 'text_encoder_2', tokenizer: 'tokenizer_2', inputs: ['input_ids'], outputs: ['last_hidden_state', 'text_embeddings'] },
  },
});

/** Largest output the bundle accepts: DyPE's target of 4096² px. */
const MAX_SIDE = 4096;

type Json = Record<string, unknown> | null;

const num = (c: Json, key: string): number | undefined => (c && typeof c[key] === 'number' && Number.isFinite(c[key]) ? (c[key] as number) : undefined);

export interface VariantDetection {
  variant: FluxVariant;
  /** Why this variant was chosen. */
  evidence: string[];
  /** Configs that disagree with the graph. */
  warnings: string[];
}

/**
 * dev vs schnell: the guidance input decides (schnell is guidance-distilled without it); the
 * scheduler (dynamic shifting for dev, a fixed shift of 1 for schnell) and the transformer config
 * are cross-checked. Krea-dev is dev with another name.
 */
export function detectVariant(hasGuidance: boolean, transformer: Json, scheduler: Json, names: readonly string[]): VariantDetection {
  const evidence = [hasGuidance ? 'the transformer takes a guidance input' : 'the transformer has no guidance input'];
  const warnings: string[] = [];
  if (scheduler) {
    const dynamic = scheduler.use_dynamic_shifting === true;
    evidence.push(`scheduler use_dynamic_shifting=${dynamic}${num(scheduler, 'shift') !== undefined ? `, shift=${num(scheduler, 'shift')}` : ''}`);
    if (dynamic !== hasGuidance) {
      warnings.push(`the scheduler (${dynamic ? 'dynamic shifting, like dev' : 'fixed shift, like schnell'}) disagrees with the transformer (${hasGuidance ? 'guidance: dev' : 'no guidance: schnell'}); the transformer decides`);
    }
  }
  if (transformer && typeof transformer.guidance_embeds === 'boolean' && transformer.guidance_embeds !== hasGuidance) {
    warnings.push(`transformer/config.json says guidance_embeds=${transformer.guidance_embeds}, but the graph ${hasGuidance ? 'has' : 'lacks'} a guidance input`);
  }
  let variant: FluxVariant = hasGuidance ? 'dev' : 'schnell';
  if (hasGuidance && names.some((n) => /krea/i.test(n))) {
    variant = 'krea-dev';
    evidence.push('the export is named Krea');
  }
  return { variant, evidence, warnings };
}

export interface ConfigInputs {
  name: string;
  description: string;
  variant: FluxVariant;
  transformer: Json;
  vae: Json;
  clipTokenizerConfig: Json;
  /** RoPE as found in the graph (axes and θ of the frequency constants) and how the imported graph takes it. */
  rope: { axesDim: readonly number[]; theta: number; inputs: BundleConfig['rope']['inputs'] };
  /** The transformer's fixed text length, when its graph has one (BFL's exporter fixes it): T5 pads to it. */
  textLength?: number;
  /** The bundle carries vae_encoder/model.onnx (dype.json vae.encoder). */
  vaeEncoder?: boolean;
}

export function buildBundleConfig(input: ConfigInputs): { config: BundleConfig; defaultsUsed: string[] } {
  const defaultsUsed: string[] = [];
  const pick = (value: number | undefined, fallback: number, what: string): number => {
    if (value !== undefined) return value;
    defaultsUsed.push(`${what} = ${fallback}`);
    return fallback;
  };
  const t = input.transformer;
  const vae = input.vae;
  const latentChannels = pick(num(vae, 'latent_channels'), FLUX_DEFAULTS.latentChannels, 'vae latent_channels');
  const blocks = vae && Array.isArray(vae.block_out_channels) ? vae.block_out_channels.length : undefined;
  const scaleFactorPx = pick(blocks ? 2 ** (blocks - 1) : undefined, FLUX_DEFAULTS.vaeScaleFactorPx, 'vae scale factor (px)');
  const inChannels = num(t, 'in_channels');
  const packed = inChannels !== undefined ? Math.sqrt(inChannels / latentChannels) : undefined;
  const patchSize = pick(packed !== undefined && Number.isInteger(packed) ? packed : undefined, FLUX_DEFAULTS.patchSize, 'latent packing patch size');
  const pixelsPerToken = patchSize * scaleFactorPx;
  let nativeResolution = pick(num(vae, 'sample_size'), FLUX_DEFAULTS.nativeResolution, 'native resolution (px)');
  if (nativeResolution % pixelsPerToken !== 0) nativeResolution = Math.round(nativeResolution / pixelsPerToken) * pixelsPerToken;
  const shiftFactor = vae && 'shift_factor' in vae ? (num(vae, 'shift_factor') ?? 0) : pick(undefined, FLUX_DEFAULTS.shiftFactor, 'vae shift_factor');
  const clipMax = num(input.clipTokenizerConfig, 'model_max_length');
  const preview =
    latentChannels === FLUX_DEFAULTS.latentRgbFactors.length
      ? { latentRgbFactors: FLUX_DEFAULTS.latentRgbFactors.map((r) => [...r] as [number, number, number]), latentRgbBias: [...FLUX_DEFAULTS.latentRgbBias] as [number, number, number] }
      : genericPreview(latentChannels);
  if (latentChannels !== FLUX_DEFAULTS.latentRgbFactors.length) defaultsUsed.push(`preview: a generic projection (FLUX's is for 16 latent channels, this VAE has ${latentChannels})`);

  const config = BundleConfigSchema.parse({
    format: 'dype-bundle',
    version: 1,
    family: 'flux1',
    name: input.name,
    description: input.description,
    demo: false,
    nativeResolution,
    pixelsPerToken,
    patchSize,
    latentChannels,
    vae: {
      scaleFactorPx,
      scalingFactor: pick(num(vae, 'scaling_factor'), FLUX_DEFAULTS.scalingFactor, 'vae scaling_factor'),
      shiftFactor,
      encoder: input.vaeEncoder ?? false,
    },
    rope: { axesDim: [...input.rope.axesDim], theta: input.rope.theta, inputs: input.rope.inputs },
    text: {
      clipMaxLength: clipMax !== undefined && Number.isInteger(clipMax) && clipMax <= 1024 ? clipMax : FLUX_DEFAULTS.clipMaxLength,
      t5MaxLength: input.textLength ?? FLUX_DEFAULTS.t5MaxLength[input.variant],
    },
    preview,
    defaults: { steps: FLUX_DEFAULTS.steps[input.variant], guidance: FLUX_DEFAULTS.guidance[input.variant] },
    limits: { maxSide: MAX_SIDE, maxPixels: MAX_SIDE * MAX_SIDE },
  });
  return { config, defaultsUsed };
}
