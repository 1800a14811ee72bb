/**
 * FLUX.1's checkpoints at their published sizes, key → shape, built from the published configs rather
 * than stored: what the planner needs for a catalog model before any file exists. The transformer from
 * black-forest-labs/flux util.py (configs["flux-dev"], schnell without the guidance embedder), CLIP-L
 * and T5 v1.1 XXL from their Hugging Face config.json, the VAE from flux's AutoEncoderParams (ae.py).
 * test/memory/flux1-published.test.ts checks each list against the real checkpoints' headers.
 */
import { expectedShapes, fluxAxesDim, type FluxConfig } from '../convert/flux.ts';
import type { PublishedShapes } from './flux.ts';

type Shapes = Record<string, number[]>;

/** FLUX.1 [dev]'s transformer config (black-forest-labs/flux src/flux/util.py, configs["flux-dev"]). */
export const FLUX1_DEV: FluxConfig = Object.freeze({
  naming: 'bfl',
  hidden: 3072,
  heads: 24,
  headDim: 128,
  mlpHidden: 12288,
  inChannels: 64,
  outChannels: 64,
  contextDim: 4096,
  vecDim: 768,
  timeDim: 256,
  depth: 19,
  depthSingle: 38,
  guidance: true,
  axesDim: fluxAxesDim(128),
  theta: 10000,
});

/** openai/clip-vit-large-patch14's text model: 12 layers of width 768, MLP 3072, 49408 tokens, 77 positions. */
export function clipLShapes(): Shapes {
  const [width, mlp, layers] = [768, 3072, 12];
  const s: Shapes = { 'text_model.embeddings.token_embedding.weight': [49408, width], 'text_model.embeddings.position_embedding.weight': [77, width] };
  for (let i = 0; i < layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) Object.assign(s, { [`${p}.self_attn.${proj}.weight`]: [width, width], [`${p}.self_attn.${proj}.bias`]: [width] });
    Object.assign(s, { [`${p}.mlp.fc1.weight`]: [mlp, width], [`${p}.mlp.fc1.bias`]: [mlp], [`${p}.mlp.fc2.weight`]: [width, mlp], [`${p}.mlp.fc2.bias`]: [width] });
    for (const norm of ['layer_norm1', 'layer_norm2']) Object.assign(s, { [`${p}.${norm}.weight`]: [width], [`${p}.${norm}.bias`]: [width] });
  }
  Object.assign(s, { 'text_model.final_layer_norm.weight': [width], 'text_model.final_layer_norm.bias': [width] });
  return s;
}

/** google/t5-v1_1-xxl's encoder: 24 blocks, d_model 4096, 64 heads of 64, gated FFN 10240, 32 buckets. */
export function t5xxlShapes(): Shapes {
  const [d, ff, blocks, heads] = [4096, 10240, 24, 64];
  const s: Shapes = { 'shared.weight': [32128, d] };
  for (let i = 0; i < blocks; i++) {
    const p = `encoder.block.${i}.layer`;
    for (const proj of ['q', 'k', 'v', 'o']) s[`${p}.0.SelfAttention.${proj}.weight`] = [d, d];
    if (i === 0) s[`${p}.0.SelfAttention.relative_attention_bias.weight`] = [32, heads];
    Object.assign(s, { [`${p}.0.layer_norm.weight`]: [d], [`${p}.1.DenseReluDense.wi_0.weight`]: [ff, d], [`${p}.1.DenseReluDense.wi_1.weight`]: [ff, d], [`${p}.1.DenseReluDense.wo.weight`]: [d, ff], [`${p}.1.layer_norm.weight`]: [d] });
  }
  s['encoder.final_layer_norm.weight'] = [d];
  return s;
}

/** FLUX.1's ae.safetensors: ch 128, ch_mult 1/2/4/4, 2 resnets per level, 16 latent channels (FLUX.2's autoencoder has 32). */
export function fluxVaeShapes(z = 16): Shapes {
  const [ch, mult, resnets] = [128, [1, 2, 4, 4], 2];
  const s: Shapes = {};
  const conv = (name: string, out: number, inC: number, k = 3) => Object.assign(s, { [`${name}.weight`]: [out, inC, k, k], [`${name}.bias`]: [out] });
  const norm = (name: string, c: number) => Object.assign(s, { [`${name}.weight`]: [c], [`${name}.bias`]: [c] });
  const resnet = (name: string, inC: number, out: number) => {
    norm(`${name}.norm1`, inC);
    conv(`${name}.conv1`, out, inC);
    norm(`${name}.norm2`, out);
    conv(`${name}.conv2`, out, out);
    if (inC !== out) conv(`${name}.nin_shortcut`, out, inC, 1);
  };
  const mid = (p: string, c: number) => {
    resnet(`${p}.mid.block_1`, c, c);
    norm(`${p}.mid.attn_1.norm`, c);
    for (const proj of ['q', 'k', 'v', 'proj_out']) conv(`${p}.mid.attn_1.${proj}`, c, c, 1);
    resnet(`${p}.mid.block_2`, c, c);
  };
  conv('encoder.conv_in', ch, 3);
  let c = ch;
  mult.forEach((m, level) => {
    for (let j = 0; j < resnets; j++) resnet(`encoder.down.${level}.block.${j}`, j === 0 ? c : ch * m, ch * m);
    c = ch * m;
    if (level !== mult.length - 1) conv(`encoder.down.${level}.downsample.conv`, c, c);
  });
  mid('encoder', c);
  norm('encoder.norm_out', c);
  conv('encoder.conv_out', 2 * z, c);
  conv('decoder.conv_in', c, z);
  mid('decoder', c);
  for (let level = mult.length - 1; level >= 0; level--) {
    for (let j = 0; j <= resnets; j++) resnet(`decoder.up.${level}.block.${j}`, j === 0 ? c : ch * mult[level], ch * mult[level]);
    c = ch * mult[level];
    if (level !== 0) conv(`decoder.up.${level}.upsample.conv`, c, c);
  }
  norm('decoder.norm_out', c);
  conv('decoder.conv_out', 3, c);
  return s;
}

/** FLUX.1's four checkpoints at their published sizes; schnell's transformer has no guidance embedder. */
export function publishedFluxShapes(variant: 'dev' | 'schnell'): PublishedShapes {
  return {
    transformer: Object.fromEntries(expectedShapes({ ...FLUX1_DEV, guidance: variant === 'dev' })),
    clip: clipLShapes(),
    t5: t5xxlShapes(),
    vae: fluxVaeShapes(),
  };
}
