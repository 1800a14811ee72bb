/** FLUX.2 [klein] 4B / 9B from ComfyUI's files: the transformer (BFL keys), the Qwen3 text encoder and the FLUX.2 VAE. */
import { dirname } from 'node:path';
import { buildFlux2BundleConfig, FLUX2_CONTRACT, FLUX2_DEFAULTS, FLUX2_SCHEDULER } from '../../bundle/flux2.ts';
import { VAE_ENCODER_FILE } from '../../bundle/read.ts';
import { ConvertError } from '../errors.ts';
import { buildFlux2Transformer, deriveFlux2Config, flux2Variant, type Flux2Config } from '../flux2.ts';
import { buildQwen3Encoder, deriveQwen3Config, type Qwen3Config } from '../qwen3.ts';
import type { VaeConfig } from '../vae.ts';
import { buildFlux2VaeDecoder, buildFlux2VaeEncoder, deriveFlux2VaeConfig, FLUX2_VAE_PATCH, readLatentNorm, type LatentNorm } from '../vae-flux2.ts';
import type { ConvertRecipe, GraphRecipe } from './types.ts';

export interface Flux2Derived {
  transformer: Flux2Config;
  qwen3: Qwen3Config;
  vae: VaeConfig;
  latentNorm: LatentNorm;
}

export const FLUX2_RECIPE: ConvertRecipe<Flux2Derived> = {
  family: 'flux2',
  label: 'FLUX.2 [klein]',
  components: ['transformer', 'qwen3', 'vae'],

  derive(found, probe) {
    const transformer = deriveFlux2Config(probe(found.transformer));
    const qwen3 = deriveQwen3Config(probe(found.qwen3));
    const vaeSource = probe(found.vae);
    const vae = deriveFlux2VaeConfig(vaeSource);
    const mismatch = (what: string) => new ConvertError(`the checkpoints do not belong together: ${what}`);
    const layers = FLUX2_DEFAULTS.qwenHiddenStates;
    if (qwen3.layers < Math.max(...layers)) throw mismatch(`${found.qwen3.checkpoint.path} has ${qwen3.layers} layers; FLUX.2 reads hidden state ${Math.max(...layers)}`);
    if (layers.length * qwen3.width !== transformer.contextDim) {
      throw mismatch(`${found.qwen3.checkpoint.path} is ${qwen3.width} wide (${layers.length} hidden states: ${layers.length * qwen3.width}) but the transformer takes ${transformer.contextDim}-wide text (Qwen3-4B for klein 4B, Qwen3-8B for klein 9B)`);
    }
    if (vae.latentChannels * FLUX2_VAE_PATCH ** 2 !== transformer.inChannels) {
      throw mismatch(`the transformer takes ${transformer.inChannels} features per token, not ${vae.latentChannels} latent channels × ${FLUX2_VAE_PATCH}² for the VAE ${found.vae.checkpoint.path}`);
    }
    return { transformer, qwen3, vae, latentNorm: readLatentNorm(vaeSource) };
  },

  variant: (d) => flux2Variant(d.transformer).name,

  describe({ transformer: t }, variant) {
    const { licence } = flux2Variant(t);
    return `${variant} (licence: ${licence}): ${t.depth} double + ${t.depthSingle} single blocks, width ${t.hidden}, ${t.heads} heads, ${t.guidance ? 'guidance embedding' : 'no guidance embedding'}`;
  },

  bundleConfig(d, variant, meta) {
    const { licence } = flux2Variant(d.transformer);
    return buildFlux2BundleConfig({
      name: meta.name,
      description: `${variant} (${licence}) converted by dype convert from ${meta.source} (weights read in place from the checkpoints).`,
      vae: { latentChannels: d.vae.latentChannels, scaleFactorPx: d.vae.scaleFactorPx, encoder: d.vae.encoder !== null },
      latentNorm: d.latentNorm,
      rope: { axesDim: d.transformer.axesDim, theta: d.transformer.theta },
    });
  },

  scheduler: () => FLUX2_SCHEDULER,

  tokenizers: (config) => ({ qwen: config.text.qwenMaxLength }),

  graphs(d): GraphRecipe[] {
    const graphs: GraphRecipe[] = [
      { kind: 'transformer', folder: 'transformer', build: (b, w) => buildFlux2Transformer(b, w, d.transformer) },
      { kind: 'transformer', folder: 'transformer', compute: 'float16', build: (b, w) => buildFlux2Transformer(b, w, d.transformer, { precision: 'float16' }) },
      { kind: 'qwen3', folder: FLUX2_CONTRACT.textEncoders.qwen.folder, build: (b, w) => buildQwen3Encoder(b, w, d.qwen3, { hiddenStates: FLUX2_DEFAULTS.qwenHiddenStates }) },
      { kind: 'vae', folder: 'vae_decoder', build: (b, w) => buildFlux2VaeDecoder(b, w, d.vae) },
    ];
    if (d.vae.encoder) graphs.push({ kind: 'vae', folder: dirname(VAE_ENCODER_FILE), build: (b, w) => buildFlux2VaeEncoder(b, w, d.vae) });
    return graphs;
  },
};
