/**
 * The FLUX VAE built from `ae.safetensors` keys against the Python reference (BFL's Decoder and
 * Encoder at tiny size, test/convert/reference-encoders/reference.py). Float32 within 1e-4.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { buildVaeDecoder, buildVaeEncoder, deriveVaeConfig } from '../../runtime/convert/vae.ts';
import { MissingTensorError } from '../../runtime/convert/weights.ts';
import { InlineWeightSource } from './helpers/inline-source.ts';
import { FIXTURES, maxAbsDiff, readFixture, runGraph } from './helpers/reference.ts';

interface VaeFixture {
  config: { ch: number; ch_mult: number[]; num_res_blocks: number; z_channels: number };
  decode: { latent_shape: number[]; latent: number[]; sample_shape: number[]; sample: number[] };
  encode: { sample_shape: number[]; sample: number[]; latent_parameters_shape: number[]; latent_parameters: number[] };
}

const fixture = readFixture<VaeFixture>('ae.json');
const AE = FIXTURES + 'ae.safetensors';
const TOLERANCE = 1e-4;

describe('FLUX VAE from ae.safetensors', () => {
  it('derives the layout from tensor shapes', async () => {
    const w = await InlineWeightSource.open(AE, new GraphBuilder('vae'));
    const { config } = fixture;
    expect(deriveVaeConfig(w)).toEqual({
      latentChannels: config.z_channels,
      imageChannels: 3,
      levels: config.ch_mult.length,
      decoderBlocks: config.num_res_blocks + 1,
      scaleFactorPx: 2 ** (config.ch_mult.length - 1),
      encoder: { levels: config.ch_mult.length, blocks: config.num_res_blocks, imageChannels: 3 },
    });
  });

  it('decodes like the reference Decoder', async () => {
    const g = new GraphBuilder('vae_decoder');
    const w = await InlineWeightSource.open(AE, g);
    buildVaeDecoder(g, w, deriveVaeConfig(w));
    const { decode } = fixture;
    const out = await runGraph(g, { latent_sample: new ort.Tensor('float32', Float32Array.from(decode.latent), decode.latent_shape) });
    expect(maxAbsDiff(out.sample, decode.sample, decode.sample_shape)).toBeLessThan(TOLERANCE);
    // Every decoder tensor is used, none of the encoder's.
    expect([...w.used].sort()).toEqual(w.keys('decoder.').sort());
  });

  it('encodes like the reference Encoder: moments, and the mean as latent_sample', async () => {
    const g = new GraphBuilder('vae_encoder');
    const w = await InlineWeightSource.open(AE, g);
    buildVaeEncoder(g, w, deriveVaeConfig(w));
    const { encode } = fixture;
    const out = await runGraph(g, { sample: new ort.Tensor('float32', Float32Array.from(encode.sample), encode.sample_shape) });
    expect(maxAbsDiff(out.latent_parameters, encode.latent_parameters, encode.latent_parameters_shape)).toBeLessThan(TOLERANCE);
    const [, twoZ, h, wd] = encode.latent_parameters_shape;
    const mean = encode.latent_parameters.slice(0, (twoZ / 2) * h * wd);
    expect(maxAbsDiff(out.latent_sample, mean, [1, twoZ / 2, h, wd])).toBeLessThan(TOLERANCE);
    expect([...w.used].sort()).toEqual(w.keys('encoder.').sort());
  });

  it('refuses an incomplete checkpoint, naming the missing tensor', async () => {
    const missing = 'decoder.up.1.block.0.norm2.bias';
    const g = new GraphBuilder('vae_decoder');
    const w = await InlineWeightSource.open(AE, g, [missing]);
    expect(() => buildVaeDecoder(g, w, deriveVaeConfig(w))).toThrow(MissingTensorError);
    expect(() => buildVaeDecoder(new GraphBuilder('again'), w, deriveVaeConfig(w))).toThrow(`ae.safetensors: tensor ${missing} is missing`);
    const noLevel = await InlineWeightSource.open(AE, new GraphBuilder('vae'), (await InlineWeightSource.open(AE, new GraphBuilder('x'))).keys('decoder.up.0.'));
    expect(() => deriveVaeConfig(noLevel)).toThrow(/decoder\.up\.0\.\* is missing/);
  });

  it('refuses to build an encoder from a decoder-only checkpoint', async () => {
    const all = await InlineWeightSource.open(AE, new GraphBuilder('x'));
    const w = await InlineWeightSource.open(AE, new GraphBuilder('vae'), all.keys('encoder.'));
    const cfg = deriveVaeConfig(w);
    expect(cfg.encoder).toBeNull();
    expect(() => buildVaeEncoder(new GraphBuilder('e'), w, cfg)).toThrow(/encoder\.conv_in\.weight is missing \(a decoder-only VAE cannot encode\)/);
  });
});
