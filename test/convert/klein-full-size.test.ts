/**
 * The FLUX.2 [klein] 4B builders at the published sizes: the key → shape lists of the 4B transformer,
 * Qwen3-4B and the FLUX.2 VAE (written by test/convert/reference-flux2/make_fixtures.py from the
 * published configs) give the published configs, and the graphs load in onnxruntime, which checks
 * every op's shapes (weights are graph inputs here, so nothing large is allocated).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFlux2Transformer, deriveFlux2Config } from '../../runtime/convert/flux2.ts';
import { buildQwen3Encoder, deriveQwen3Config } from '../../runtime/convert/qwen3.ts';
import { buildFlux2VaeDecoder, buildFlux2VaeEncoder, deriveFlux2VaeConfig } from '../../runtime/convert/vae-flux2.ts';
import { KLEIN_FIXTURES } from './helpers/klein-fixtures.ts';
import { buildFromShapes as build, graphSignature } from './helpers/shape-source.ts';

type Shapes = Record<string, number[]>;
const shapes = JSON.parse(readFileSync(join(KLEIN_FIXTURES, 'full-size-shapes.json'), 'utf8')) as { transformer: Shapes; qwen3: Shapes; vae: Shapes };

describe('FLUX.2 [klein] 4B full-size layouts', () => {
  it('transformer: 5 double + 20 single blocks of 24 heads × 128, 4 RoPE axes of 32', async () => {
    const { g, cfg } = build('flux-2-klein-4b', shapes.transformer, deriveFlux2Config, buildFlux2Transformer);
    expect(cfg).toEqual({ hidden: 3072, heads: 24, headDim: 128, mlpHidden: 9216, inChannels: 128, contextDim: 7680, depth: 5, depthSingle: 20, guidance: false, axesDim: [32, 32, 32, 32], theta: 2000 });
    const { inputs, outputs } = await graphSignature(g);
    expect(inputs.filter((n) => !n.includes('.'))).toEqual(['hidden_states', 'encoder_hidden_states', 'timestep', 'img_ids', 'txt_ids', 'rope_omega', 'rope_mscale']);
    expect(outputs).toEqual(['out_hidden_states']);
  });

  it('Qwen3-4B: 36 layers of 32 query and 8 key/value heads × 128; klein reads 27 of them, 3 × 2560 wide', async () => {
    const { g, cfg } = build('qwen_3_4b', shapes.qwen3, deriveQwen3Config, (g, w, c) => buildQwen3Encoder(g, w, c, { hiddenStates: [9, 18, 27] }));
    expect(cfg).toEqual({ vocabSize: 151936, width: 2560, layers: 36, heads: 32, kvHeads: 8, headDim: 128, mlpWidth: 9728 });
    const { inputs, outputs } = await graphSignature(g);
    expect(inputs).not.toContain('model.layers.27.self_attn.q_proj.weight');
    expect(inputs).toContain('model.layers.26.self_attn.q_proj.weight');
    expect(outputs).toEqual(['hidden_states']);
  });

  it('FLUX.2 VAE: 32 latent channels at 1/8, quant convs, 128 BatchNorm features', async () => {
    const dec = build('flux2-vae', shapes.vae, deriveFlux2VaeConfig, buildFlux2VaeDecoder);
    expect(dec.cfg).toMatchObject({ latentChannels: 32, scaleFactorPx: 8, levels: 4, decoderBlocks: 3 });
    expect(shapes.vae['bn.running_mean']).toEqual([128]);
    expect((await graphSignature(dec.g)).outputs).toEqual(['sample']);
    const enc = build('flux2-vae', shapes.vae, deriveFlux2VaeConfig, buildFlux2VaeEncoder);
    expect((await graphSignature(enc.g)).outputs).toEqual(['latent_parameters', 'latent_sample']);
  });
});
