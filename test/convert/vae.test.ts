/**
 * The FLUX VAE built from `ae.safetensors` keys against the Python reference (BFL's Decoder and
 * Encoder at tiny size, test/convert/reference-encoders/reference.py). Float32 within 1e-4.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { buildVaeDecoder, buildVaeEncoder, deriveVaeConfig } from '../../runtime/convert/vae.ts';
import { isDiffusersVae } from '../../runtime/convert/vae-diffusers.ts';
import { MissingTensorError, type WeightSource } from '../../runtime/convert/weights.ts';
import { InlineWeightSource } from './helpers/inline-source.ts';
import { writeSafetensors, type RawTensor } from './helpers/write-safetensors.ts';
import { FIXTURES, maxAbsDiff, readFixture, runGraph } from './helpers/reference.ts';

interface VaeFixture {
  config: { ch: number; ch_mult: number[]; num_res_blocks: number; z_channels: number };
  decode: { latent_shape: number[]; latent: number[]; sample_shape: number[]; sample: number[] };
  encode: { sample_shape: number[]; sample: number[]; latent_parameters_shape: number[]; latent_parameters: number[] };
}

const fixture = readFixture<VaeFixture>('ae.json');
const AE = FIXTURES + 'ae.safetensors';
const TOLERANCE = 1e-4;

async function decode(g: GraphBuilder, w: WeightSource): Promise<number> {
  buildVaeDecoder(g, w, deriveVaeConfig(w));
  const { decode } = fixture;
  const out = await runGraph(g, { latent_sample: new ort.Tensor('float32', Float32Array.from(decode.latent), decode.latent_shape) });
  return maxAbsDiff(out.sample, decode.sample, decode.sample_shape);
}

async function encode(g: GraphBuilder, w: WeightSource): Promise<{ moments: number; mean: number }> {
  buildVaeEncoder(g, w, deriveVaeConfig(w));
  const { encode } = fixture;
  const out = await runGraph(g, { sample: new ort.Tensor('float32', Float32Array.from(encode.sample), encode.sample_shape) });
  const [, twoZ, h, wd] = encode.latent_parameters_shape;
  return {
    moments: maxAbsDiff(out.latent_parameters, encode.latent_parameters, encode.latent_parameters_shape),
    mean: maxAbsDiff(out.latent_sample, encode.latent_parameters.slice(0, (twoZ / 2) * h * wd), [1, twoZ / 2, h, wd]),
  };
}

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
    expect(await decode(g, w)).toBeLessThan(TOLERANCE);
    // Every decoder tensor is used, none of the encoder's.
    expect([...w.used].sort()).toEqual(w.keys('decoder.').sort());
  });

  it('encodes like the reference Encoder: moments, and the mean as latent_sample', async () => {
    const g = new GraphBuilder('vae_encoder');
    const w = await InlineWeightSource.open(AE, g);
    const diff = await encode(g, w);
    expect(diff.moments).toBeLessThan(TOLERANCE);
    expect(diff.mean).toBeLessThan(TOLERANCE);
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

/**
 * The diffusers name of a BFL key, written the way diffusers' convert_ldm_vae_checkpoint renames
 * (up_blocks reversed, nin_shortcut → conv_shortcut, attention q/k/v/proj_out → to_q/…/to_out.0).
 */
function diffusersName(key: string, levels: number): string {
  return key
    .replace(/^(encoder|decoder)\.norm_out\./, '$1.conv_norm_out.')
    .replace(/\.mid\.block_(\d)\./, (_, i: string) => `.mid_block.resnets.${Number(i) - 1}.`)
    .replace(/\.mid\.attn_1\.norm\./, '.mid_block.attentions.0.group_norm.')
    .replace(/\.mid\.attn_1\.(q|k|v)\./, '.mid_block.attentions.0.to_$1.')
    .replace(/\.mid\.attn_1\.proj_out\./, '.mid_block.attentions.0.to_out.0.')
    .replace(/^encoder\.down\.(\d+)\.block\./, 'encoder.down_blocks.$1.resnets.')
    .replace(/^encoder\.down\.(\d+)\.downsample\./, 'encoder.down_blocks.$1.downsamplers.0.')
    .replace(/^decoder\.up\.(\d+)\.block\./, (_, i: string) => `decoder.up_blocks.${levels - 1 - Number(i)}.resnets.`)
    .replace(/^decoder\.up\.(\d+)\.upsample\./, (_, i: string) => `decoder.up_blocks.${levels - 1 - Number(i)}.upsamplers.0.`)
    .replace(/\.nin_shortcut\./, '.conv_shortcut.');
}

describe('FLUX VAE from diffusers AutoencoderKL keys', () => {
  let dir: string;
  let file: string;
  let tensors: Map<string, RawTensor>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-vae-diffusers-'));
    file = join(dir, 'diffusion_pytorch_model.safetensors');
    const header = await readSafetensorsHeader(AE);
    const bytes = readFileSync(AE);
    const levels = fixture.config.ch_mult.length;
    tensors = new Map();
    for (const t of header.tensors.values()) {
      const name = diffusersName(t.key, levels);
      // diffusers' attention projections are Linear: [C, C, 1, 1] → [C, C], same bytes.
      const shape = /attentions\.0\.to_.*weight$/.test(name) ? t.shape.slice(0, 2) : t.shape;
      tensors.set(name, { dtype: t.dtype, shape, bytes: bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength) });
    }
    writeSafetensors(file, tensors);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads as the same layout and decodes and encodes like the reference', async () => {
    const dec = new GraphBuilder('vae_decoder');
    const w = await InlineWeightSource.open(file, dec);
    expect(isDiffusersVae(w)).toBe(true);
    expect(deriveVaeConfig(w)).toEqual(deriveVaeConfig(await InlineWeightSource.open(AE, new GraphBuilder('bfl'))));
    expect(await decode(dec, w)).toBeLessThan(TOLERANCE);
    expect([...w.used].sort()).toEqual(w.keys('decoder.').sort());
    const enc = new GraphBuilder('vae_encoder');
    const diff = await encode(enc, await InlineWeightSource.open(file, enc));
    expect(diff.moments).toBeLessThan(TOLERANCE);
    expect(diff.mean).toBeLessThan(TOLERANCE);
  });

  it('names the missing tensor by its BFL name', async () => {
    const g = new GraphBuilder('vae_decoder');
    const w = await InlineWeightSource.open(file, g, ['decoder.up_blocks.1.resnets.0.conv_shortcut.weight']);
    expect(() => buildVaeDecoder(g, w, deriveVaeConfig(w))).toThrow("diffusion_pytorch_model.safetensors (diffusers AutoencoderKL, tensors named as in BFL's ae.safetensors): tensor decoder.up.0.block.0.nin_shortcut.weight is missing");
  });

  it('refuses a Stable Diffusion-style VAE (quant convs)', async () => {
    const sd = join(dir, 'sd-vae.safetensors');
    const quant = tensors.get('decoder.conv_in.weight')!;
    writeSafetensors(sd, new Map([...tensors, ['post_quant_conv.weight', quant]]));
    const g = new GraphBuilder('vae');
    const w = await InlineWeightSource.open(sd, g);
    expect(() => deriveVaeConfig(w)).toThrow(/post_quant_conv\.weight, so it is a Stable Diffusion-style VAE/);
  });
});
