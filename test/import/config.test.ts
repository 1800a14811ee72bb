// dype.json from an export's configs, with FLUX.1 defaults checked against ../shared/reference/flux.json.
import { describe, expect, it } from 'vitest';
import { buildBundleConfig, detectVariant, FLUX_DEFAULTS, FLUX_SCHEDULERS } from '../../runtime/bundle/flux1.ts';
import { readShared } from '../helpers/golden.ts';

interface FluxReference {
  transformer: { axes_dims_rope: number[]; theta: number; pixels_per_token: number; tokens_per_side_at_1024px: number; text_tokens_dev: number; text_tokens_schnell: number };
  vae: { latent_channels: number; scale_factor_px: number; scaling_factor: number; shift_factor: number };
  scheduler: Record<'dev' | 'krea_dev' | 'schnell', Record<string, unknown>>;
  latent_preview: { latent_rgb_factors: number[][]; latent_rgb_factors_bias: number[] };
}
const flux = readShared<FluxReference>('reference/flux.json');

// Configs as published with FLUX.1-dev (diffusers layout: transformer/, vae/ → vae_decoder/ in optimum exports).
const devTransformer = { _class_name: 'FluxTransformer2DModel', in_channels: 64, axes_dims_rope: [16, 56, 56], guidance_embeds: true, num_attention_heads: 24, patch_size: 1 };
const fluxVae = { latent_channels: 16, block_out_channels: [128, 256, 512, 512], scaling_factor: 0.3611, shift_factor: 0.1159, sample_size: 1024 };

describe('FLUX defaults', () => {
  it('match the published constants in flux.json', () => {
    expect(FLUX_DEFAULTS.axesDim).toEqual(flux.transformer.axes_dims_rope);
    expect(FLUX_DEFAULTS.theta).toBe(flux.transformer.theta);
    expect(FLUX_DEFAULTS.nativeResolution).toBe(flux.transformer.tokens_per_side_at_1024px * flux.transformer.pixels_per_token);
    expect(FLUX_DEFAULTS.t5MaxLength.dev).toBe(flux.transformer.text_tokens_dev);
    expect(FLUX_DEFAULTS.t5MaxLength.schnell).toBe(flux.transformer.text_tokens_schnell);
    expect([FLUX_DEFAULTS.latentChannels, FLUX_DEFAULTS.vaeScaleFactorPx, FLUX_DEFAULTS.scalingFactor, FLUX_DEFAULTS.shiftFactor]).toEqual([
      flux.vae.latent_channels, flux.vae.scale_factor_px, flux.vae.scaling_factor, flux.vae.shift_factor,
    ]);
    expect(FLUX_DEFAULTS.latentRgbFactors).toEqual(flux.latent_preview.latent_rgb_factors);
    expect(FLUX_DEFAULTS.latentRgbBias).toEqual(flux.latent_preview.latent_rgb_factors_bias);
    expect([FLUX_DEFAULTS.steps.dev, FLUX_DEFAULTS.guidance.dev]).toEqual([flux.scheduler.dev.default_steps, flux.scheduler.dev.guidance_scale]);
    expect([FLUX_DEFAULTS.steps['krea-dev'], FLUX_DEFAULTS.guidance['krea-dev']]).toEqual([flux.scheduler.krea_dev.default_steps, flux.scheduler.krea_dev.guidance_scale]);
    expect([FLUX_DEFAULTS.steps.schnell, FLUX_DEFAULTS.guidance.schnell]).toEqual([flux.scheduler.schnell.default_steps, flux.scheduler.schnell.guidance]);
    for (const key of ['use_dynamic_shifting', 'base_image_seq_len', 'max_image_seq_len', 'base_shift', 'max_shift', 'shift'] as const) {
      expect(FLUX_SCHEDULERS.dev[key], key).toBe(flux.scheduler.dev[key]);
    }
    expect([FLUX_SCHEDULERS.schnell.use_dynamic_shifting, FLUX_SCHEDULERS.schnell.shift]).toEqual([flux.scheduler.schnell.use_dynamic_shifting, flux.scheduler.schnell.shift]);
  });
});

describe('dype.json', () => {
  const rope = { axesDim: [16, 56, 56], theta: 10000, inputs: 'omega' as const };
  it('from FLUX.1-dev configs: 16 px per token, FLUX VAE scaling and preview, no defaults needed', () => {
    const { config, defaultsUsed } = buildBundleConfig({ name: 'flux-dev', description: '', variant: 'dev', transformer: devTransformer, vae: fluxVae, clipTokenizerConfig: { model_max_length: 77 }, rope });
    expect(defaultsUsed).toEqual([]);
    expect(config).toMatchObject({
      nativeResolution: 1024,
      pixelsPerToken: 16,
      patchSize: 2,
      latentChannels: 16,
      vae: { scaleFactorPx: 8, scalingFactor: 0.3611, shiftFactor: 0.1159 },
      rope: { axesDim: [16, 56, 56], theta: 10000, inputs: 'omega' },
      text: { clipMaxLength: 77, t5MaxLength: 512 },
      defaults: { steps: 28, guidance: 3.5 },
      limits: { maxSide: 4096 },
    });
    expect(config.preview.latentRgbFactors).toEqual(flux.latent_preview.latent_rgb_factors);
  });

  it('rope.inputs says what the imported transformer takes', () => {
    const build = (inputs: 'omega' | 'tables') => buildBundleConfig({ name: 'x', description: '', variant: 'dev', transformer: devTransformer, vae: fluxVae, clipTokenizerConfig: null, rope: { ...rope, inputs } });
    expect(build('tables').config.rope.inputs).toBe('tables');
    expect(build('omega').config.rope.inputs).toBe('omega');
  });

  it('without configs: FLUX defaults, each one reported', () => {
    const { config, defaultsUsed } = buildBundleConfig({ name: 'bare', description: '', variant: 'schnell', transformer: null, vae: null, clipTokenizerConfig: null, rope });
    expect(config).toMatchObject({ nativeResolution: 1024, pixelsPerToken: 16, latentChannels: 16, vae: { scalingFactor: 0.3611, shiftFactor: 0.1159 }, text: { t5MaxLength: 256 }, defaults: { steps: 4, guidance: null } });
    expect(defaultsUsed).toEqual(['vae latent_channels = 16', 'vae scale factor (px) = 8', 'latent packing patch size = 2', 'native resolution (px) = 1024', 'vae shift_factor = 0.1159', 'vae scaling_factor = 0.3611']);
  });
});

describe('dev vs schnell', () => {
  const dynamic = { use_dynamic_shifting: true, shift: 3 };
  const fixed = { use_dynamic_shifting: false, shift: 1 };
  it.each([
    ['dev', true, dynamic, ['FLUX.1-dev-onnx'], 'dev', 0],
    ['Krea-dev by name', true, dynamic, ['flux1-krea-dev-onnx'], 'krea-dev', 0],
    ['schnell', false, fixed, ['FLUX.1-schnell'], 'schnell', 0],
    ['guidance input wins over a schnell scheduler, with a warning', true, fixed, ['x'], 'dev', 1],
    ['no guidance input but dev scheduler: schnell, with a warning', false, dynamic, ['x'], 'schnell', 1],
  ] as const)('%s', (_label, guidance, scheduler, names, variant, warnings) => {
    const d = detectVariant(guidance, { guidance_embeds: guidance }, scheduler, names);
    expect(d.variant).toBe(variant);
    expect(d.warnings.length).toBe(warnings);
  });
  it('a transformer config that disagrees with the graph is a warning', () => {
    expect(detectVariant(false, { guidance_embeds: true }, null, []).warnings[0]).toMatch(/guidance_embeds=true, but the graph lacks a guidance input/);
  });
});
