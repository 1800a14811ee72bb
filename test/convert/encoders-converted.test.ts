/**
 * The encoders and the VAE as `dype convert` writes them: weights through the real
 * SafetensorsWeightSource (external data at their offsets inside a hard-linked checkpoint, Casts
 * from fp16/bf16), the converter's opset, the model loaded from its folder. Compared with the same
 * Python reference as clip/t5/vae.test.ts, float32 within 1e-4 (the fp16/bf16 references ran on the
 * same rounded weights, so the Casts must be exact widenings).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClipTextEncoder, deriveClipConfig } from '../../runtime/convert/clip.ts';
import { buildT5Encoder, deriveT5Config } from '../../runtime/convert/t5.ts';
import { buildVaeDecoder, buildVaeEncoder, deriveVaeConfig } from '../../runtime/convert/vae.ts';
import { convertedSession } from './helpers/converted.ts';
import { FIXTURES, ids, maxAbsDiff, readFixture } from './helpers/reference.ts';

const TOLERANCE = 1e-4;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dype-convert-source-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const converted = (checkpoint: string, build: Parameters<typeof convertedSession>[2]) => convertedSession(root, FIXTURES + checkpoint, build);

describe('converted text encoders', () => {
  it.each([
    ['clip_l.json', 'F32'],
    ['clip_l_fp16.json', 'F16'],
  ])('CLIP from %s', async (name, dtype) => {
    const f = readFixture<{ checkpoint: string; config: { head_dim: number }; cases: Record<string, { input_ids: number[]; last_hidden_state: number[]; pooler_output: number[] }> }>(name);
    const { session, conversions } = await converted(f.checkpoint, (g, w) => buildClipTextEncoder(g, w, deriveClipConfig(w, { headDim: f.config.head_dim })));
    expect(Object.keys(conversions)).toEqual([dtype]);
    for (const c of Object.values(f.cases)) {
      const out = await session.run({ input_ids: ids(c.input_ids) });
      expect(maxAbsDiff(out.last_hidden_state, c.last_hidden_state)).toBeLessThan(TOLERANCE);
      expect(maxAbsDiff(out.pooler_output, c.pooler_output)).toBeLessThan(TOLERANCE);
    }
  });

  it.each([
    ['t5xxl.json', 'F32'],
    ['t5xxl_bf16.json', 'BF16'],
  ])('T5 from %s', async (name, dtype) => {
    const f = readFixture<{ checkpoint: string; cases: Record<string, { input_ids: number[]; last_hidden_state: number[] }> }>(name);
    const { session, conversions } = await converted(f.checkpoint, (g, w) => buildT5Encoder(g, w, deriveT5Config(w)));
    expect(Object.keys(conversions)).toEqual([dtype]);
    for (const c of Object.values(f.cases)) {
      expect(maxAbsDiff((await session.run({ input_ids: ids(c.input_ids) })).last_hidden_state, c.last_hidden_state)).toBeLessThan(TOLERANCE);
    }
  });
});

describe('converted VAE', () => {
  const f = readFixture<{
    decode: { latent_shape: number[]; latent: number[]; sample: number[] };
    encode: { sample_shape: number[]; sample: number[]; latent_parameters: number[] };
  }>('ae.json');

  it('decodes', async () => {
    const { session } = await converted('ae.safetensors', (g, w) => buildVaeDecoder(g, w, deriveVaeConfig(w)));
    const out = await session.run({ latent_sample: new ort.Tensor('float32', Float32Array.from(f.decode.latent), f.decode.latent_shape) });
    expect(maxAbsDiff(out.sample, f.decode.sample)).toBeLessThan(TOLERANCE);
  });

  it('encodes', async () => {
    const { session } = await converted('ae.safetensors', (g, w) => buildVaeEncoder(g, w, deriveVaeConfig(w)));
    const out = await session.run({ sample: new ort.Tensor('float32', Float32Array.from(f.encode.sample), f.encode.sample_shape) });
    expect(maxAbsDiff(out.latent_parameters, f.encode.latent_parameters)).toBeLessThan(TOLERANCE);
  });
});
