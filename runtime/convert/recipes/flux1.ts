/** FLUX.1 (dev, schnell, Krea-dev) from BFL, ComfyUI or diffusers checkpoints: transformer, CLIP-L, T5-XXL, VAE. */
import { buildBundleConfig, detectVariant, FLUX1_CONTRACT, FLUX_SCHEDULERS, type FluxVariant } from '../../bundle/flux1.ts';
import { VAE_ENCODER_FILE } from '../../bundle/read.ts';
import { dirname } from 'node:path';
import { buildClipTextEncoder, deriveClipConfig, type ClipConfig } from '../clip.ts';
import { ConvertError } from '../errors.ts';
import { buildFluxTransformer, deriveFluxConfig, type FluxConfig } from '../flux.ts';
import { buildT5Encoder, deriveT5Config, type T5Config } from '../t5.ts';
import { buildVaeDecoder, buildVaeEncoder, deriveVaeConfig, type VaeConfig } from '../vae.ts';
import type { ConvertRecipe, GraphRecipe } from './types.ts';

export interface Flux1Derived {
  transformer: FluxConfig;
  clip: ClipConfig;
  t5: T5Config;
  vae: VaeConfig;
}

export const FLUX1_RECIPE: ConvertRecipe<Flux1Derived> = {
  family: 'flux1',
  components: ['transformer', 'clip', 't5', 'vae'],

  derive(found, probe, options) {
    const transformer = deriveFluxConfig(probe(found.transformer), found.transformer.architecture.naming ?? 'bfl');
    const clip = deriveClipConfig(probe(found.clip), options.clipHeadDim ? { headDim: options.clipHeadDim } : {});
    const t5 = deriveT5Config(probe(found.t5));
    const vae = deriveVaeConfig(probe(found.vae));
    const mismatch = (what: string) => new ConvertError(`the checkpoints do not belong together: ${what}`);
    if (clip.width !== transformer.vecDim) throw mismatch(`${found.clip.checkpoint.path} is ${clip.width} wide but the transformer takes ${transformer.vecDim}-wide pooled CLIP embeddings`);
    if (t5.width !== transformer.contextDim) throw mismatch(`${found.t5.checkpoint.path} is ${t5.width} wide but the transformer takes ${transformer.contextDim}-wide T5 states`);
    const patch = Math.sqrt(transformer.inChannels / vae.latentChannels);
    if (!Number.isInteger(patch) || transformer.outChannels !== transformer.inChannels) {
      throw mismatch(`the transformer takes ${transformer.inChannels} features per token, not ${vae.latentChannels} latent channels × patch² for the VAE ${found.vae.checkpoint.path}`);
    }
    return { transformer, clip, t5, vae };
  },

  variant: (d, names) => detectVariant(d.transformer.guidance, null, null, names).variant,

  describe({ transformer: t }, variant) {
    return `FLUX.1-${variant}: ${t.depth} double + ${t.depthSingle} single blocks, width ${t.hidden}, ${t.heads} heads (${t.naming} keys), ${t.guidance ? 'guidance embedding' : 'no guidance embedding'}`;
  },

  bundleConfig(d, variant, meta) {
    const t = d.transformer;
    return buildBundleConfig({
      name: meta.name,
      description: `FLUX.1-${variant} converted by dype convert from ${meta.source} (weights read in place from the checkpoints).`,
      variant: variant as FluxVariant,
      transformer: { in_channels: t.inChannels },
      vae: { latent_channels: d.vae.latentChannels, block_out_channels: new Array(d.vae.levels).fill(0) },
      clipTokenizerConfig: { model_max_length: d.clip.positions },
      rope: { axesDim: t.axesDim, theta: t.theta, inputs: 'omega' },
      vaeEncoder: d.vae.encoder !== null,
    });
  },

  scheduler: (variant) => FLUX_SCHEDULERS[variant === 'schnell' ? 'schnell' : 'dev'],

  tokenizers: (config) => ({ clip: config.text.clipMaxLength, t5: config.text.t5MaxLength }),

  graphs(d): GraphRecipe[] {
    const graphs: GraphRecipe[] = [
      { kind: 'transformer', folder: 'transformer', build: (b, w) => buildFluxTransformer(b, w, d.transformer) },
      { kind: 'transformer', folder: 'transformer', compute: 'float16', build: (b, w) => buildFluxTransformer(b, w, d.transformer, { precision: 'float16' }) },
      { kind: 'clip', folder: FLUX1_CONTRACT.textEncoders.clip.folder, build: (b, w) => buildClipTextEncoder(b, w, d.clip) },
      { kind: 't5', folder: FLUX1_CONTRACT.textEncoders.t5.folder, build: (b, w) => buildT5Encoder(b, w, d.t5) },
      { kind: 'vae', folder: 'vae_decoder', build: (b, w) => buildVaeDecoder(b, w, d.vae) },
    ];
    if (d.vae.encoder) graphs.push({ kind: 'vae', folder: dirname(VAE_ENCODER_FILE), build: (b, w) => buildVaeEncoder(b, w, d.vae) });
    return graphs;
  },
};
