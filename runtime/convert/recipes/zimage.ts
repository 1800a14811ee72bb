/**
 * Z-Image-Turbo from the files ComfyUI users have: the diffusion model (z_image_turbo_bf16 or fp8),
 * qwen_3_4b (a Qwen3-4B text encoder, which FLUX.2 [klein] 4B uses too) and FLUX.1's ae.safetensors.
 */
import { buildZImageBundleConfig, ZIMAGE_CONTRACT, ZIMAGE_DEFAULTS, ZIMAGE_SCHEDULERS } from '../../bundle/zimage.ts';
import { ConvertError } from '../errors.ts';
import { buildQwen3Encoder, deriveQwen3Config, type Qwen3Config } from '../qwen3.ts';
import { deriveVaeConfig, type VaeConfig } from '../vae.ts';
import { buildZImageTransformer, deriveZImageConfig, type ZImageConfig } from '../zimage.ts';
import { fluxAeGraphs } from './flux1.ts';
import type { ConvertRecipe, GraphRecipe } from './types.ts';

export interface ZImageDerived {
  transformer: ZImageConfig;
  qwen3: Qwen3Config;
  vae: VaeConfig;
}

export const ZIMAGE_RECIPE: ConvertRecipe<ZImageDerived> = {
  family: 'zimage',
  label: 'Z-Image',
  components: ['transformer', 'qwen3', 'vae'],
  sharedComponents: { qwen3: 'flux2', vae: 'flux1' },

  derive(found, probe) {
    const transformer = deriveZImageConfig(probe(found.transformer));
    const qwen3 = deriveQwen3Config(probe(found.qwen3));
    const vae = deriveVaeConfig(probe(found.vae));
    const mismatch = (what: string) => new ConvertError(`the checkpoints do not belong together: ${what}`);
    if (qwen3.width !== transformer.capDim) throw mismatch(`${found.qwen3.checkpoint.path} is ${qwen3.width} wide but the transformer takes ${transformer.capDim}-wide caption features`);
    const features = vae.latentChannels * ZIMAGE_DEFAULTS.patchSize ** 2;
    if (transformer.inChannels !== features || transformer.outChannels !== features) {
      throw mismatch(`the transformer takes ${transformer.inChannels} features per token, not ${vae.latentChannels} latent channels × 2×2 patches for the VAE ${found.vae.checkpoint.path}`);
    }
    return { transformer, qwen3, vae };
  },

  variant: () => 'turbo',

  describe({ transformer: t, qwen3: q }) {
    const b = t.blocks;
    return `Z-Image-Turbo: ${b.noise_refiner} noise + ${b.context_refiner} context refiner blocks and ${b.layers} layers, width ${t.hidden}, ${t.heads} heads; Qwen3 text encoder with ${q.layers} layers (hidden state ${ZIMAGE_DEFAULTS.hiddenState})`;
  },

  bundleConfig(d, _variant, meta) {
    const config = buildZImageBundleConfig({
      name: meta.name,
      description: `Z-Image-Turbo converted by dype convert from ${meta.source} (weights read in place from the checkpoints).`,
      vae: { latentChannels: d.vae.latentChannels, scaleFactorPx: d.vae.scaleFactorPx, encoder: d.vae.encoder !== null },
    });
    return { config, defaultsUsed: [] };
  },

  scheduler: () => ZIMAGE_SCHEDULERS.turbo,

  tokenizers: (config) => ({ qwen: config.text.qwenMaxLength }),

  graphs(d): GraphRecipe[] {
    return [
      { kind: 'transformer', folder: 'transformer', build: (b, w) => buildZImageTransformer(b, w, d.transformer) },
      { kind: 'transformer', folder: 'transformer', compute: 'float16', build: (b, w) => buildZImageTransformer(b, w, d.transformer, { precision: 'float16' }) },
      { kind: 'qwen3', folder: ZIMAGE_CONTRACT.textEncoders.qwen.folder, build: (b, w) => buildQwen3Encoder(b, w, d.qwen3, { hiddenStates: [ZIMAGE_DEFAULTS.hiddenState] }) },
      ...fluxAeGraphs(d.vae),
    ];
  },
};
