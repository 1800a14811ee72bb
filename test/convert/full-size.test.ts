/**
 * The builders at the published full sizes: the key → shape lists of CLIP-L's text model, T5-XXL's
 * encoder and FLUX.1's ae (written by test/convert/reference-encoders/reference.py from the
 * published configs) give the published configs, and the graphs load in onnxruntime, which checks
 * every op's shapes (weights are graph inputs here, so nothing large is allocated).
 */
import { describe, expect, it } from 'vitest';
import { buildClipTextEncoder, deriveClipConfig } from '../../runtime/convert/clip.ts';
import { buildT5Encoder, deriveT5Config } from '../../runtime/convert/t5.ts';
import { buildVaeDecoder, buildVaeEncoder, deriveVaeConfig } from '../../runtime/convert/vae.ts';
import { TensorShapeError } from '../../runtime/convert/layers.ts';
import { buildFromShapes as build, graphSignature } from './helpers/shape-source.ts';
import { readFixture } from './helpers/reference.ts';

type Shapes = Record<string, number[]>;
const shapes = readFixture<{ clip_l: Shapes; t5xxl: Shapes; ae: Shapes }>('full-size-shapes.json');



describe('full-size layouts', () => {
  it('CLIP-L: 12 layers of 12 heads × 64, 77 positions', async () => {
    const { g, cfg } = build('clip_l', shapes.clip_l, (w) => deriveClipConfig(w), buildClipTextEncoder);
    expect(cfg).toEqual({ vocabSize: 49408, width: 768, positions: 77, layers: 12, heads: 12, headDim: 64, mlpWidth: 3072 });
    const { inputs, outputs } = await graphSignature(g);
    expect(inputs).toContain('input_ids');
    expect(outputs).toEqual(['last_hidden_state', 'pooler_output']);
  });

  it('T5-XXL: 24 blocks of 64 heads × 64, d_ff 10240', async () => {
    const { g, cfg } = build('t5xxl', shapes.t5xxl, deriveT5Config, buildT5Encoder);
    expect(cfg).toEqual({ vocabSize: 32128, width: 4096, blocks: 24, heads: 64, headDim: 64, ffWidth: 10240, numBuckets: 32, embeddingKey: 'shared.weight' });
    expect((await graphSignature(g)).outputs).toEqual(['last_hidden_state']);
  });

  it('FLUX.1 ae: 4 levels (×8), 3 decoder blocks per level, 16 latent channels', async () => {
    const dec = build('ae', shapes.ae, deriveVaeConfig, buildVaeDecoder);
    expect(dec.cfg).toEqual({ latentChannels: 16, imageChannels: 3, levels: 4, decoderBlocks: 3, scaleFactorPx: 8, encoder: { levels: 4, blocks: 2, imageChannels: 3 } });
    expect((await graphSignature(dec.g)).outputs).toEqual(['sample']);
    const enc = build('ae', shapes.ae, deriveVaeConfig, buildVaeEncoder);
    expect((await graphSignature(enc.g)).outputs).toEqual(['latent_parameters', 'latent_sample']);
  });

  it('refuses VAE widths that do not chain, naming the tensor (ONNX shape inference would not)', () => {
    const bad = { ...shapes.ae, 'decoder.up.2.block.1.conv1.weight': [512, 500, 3, 3] };
    expect(() => build('ae', bad, deriveVaeConfig, buildVaeDecoder)).toThrow(TensorShapeError);
    expect(() => build('ae', bad, deriveVaeConfig, buildVaeDecoder)).toThrow('ae: tensor decoder.up.2.block.1.conv1.weight has shape [512, 500, 3, 3], expected [?, 512, 3, 3]');
  });
});
