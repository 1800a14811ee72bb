/**
 * The CLIP text encoder built from HF CLIPTextModel keys against the Python reference
 * (test/convert/reference-encoders/reference.py, a tiny CLIP with 2 layers of 2 heads × 16).
 * Float32 within 1e-4; the fp16 checkpoint is compared with the reference run on the same
 * fp16-rounded weights, so it checks the fixture for the converter's dtype handling.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { buildClipTextEncoder, deriveClipConfig } from '../../runtime/convert/clip.ts';
import { TensorShapeError } from '../../runtime/convert/layers.ts';
import { MissingTensorError } from '../../runtime/convert/weights.ts';
import { InlineWeightSource } from './helpers/inline-source.ts';
import { FIXTURES, ids, maxAbsDiff, readFixture, runGraph } from './helpers/reference.ts';

interface ClipFixture {
  checkpoint: string;
  config: { vocab: number; width: number; heads: number; inner: number; layers: number; positions: number; head_dim: number };
  cases: Record<string, { input_ids: number[]; last_hidden_state: number[]; pooler_output: number[] }>;
}

const TOLERANCE = 1e-4;

describe.each(['clip_l.json', 'clip_l_fp16.json'])('CLIP text encoder (%s)', (name) => {
  const fixture = readFixture<ClipFixture>(name);
  const file = FIXTURES + fixture.checkpoint;

  it('derives the layout from tensor shapes (heads from the head width)', async () => {
    const w = await InlineWeightSource.open(file, new GraphBuilder('clip'));
    const c = fixture.config;
    expect(deriveClipConfig(w, { headDim: c.head_dim })).toEqual({
      vocabSize: c.vocab, width: c.width, positions: c.positions, layers: c.layers, heads: c.heads, headDim: c.head_dim, mlpWidth: c.inner,
    });
  });

  it.each(Object.keys(fixture.cases))('matches the reference on the %s prompt', async (caseName) => {
    const g = new GraphBuilder('text_encoder');
    const w = await InlineWeightSource.open(file, g);
    buildClipTextEncoder(g, w, deriveClipConfig(w, { headDim: fixture.config.head_dim }));
    const c = fixture.cases[caseName];
    const out = await runGraph(g, { input_ids: ids(c.input_ids) });
    expect(maxAbsDiff(out.last_hidden_state, c.last_hidden_state, [1, c.input_ids.length, fixture.config.width])).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(out.pooler_output, c.pooler_output, [1, fixture.config.width])).toBeLessThan(TOLERANCE);
    // The projection and position_ids in the file are not part of the encoder.
    expect([...w.used].sort()).toEqual(w.keys('text_model.').filter((k) => !k.endsWith('position_ids')).sort());
  });
});

describe('CLIP checkpoint refusals', () => {
  const file = FIXTURES + 'clip_l.safetensors';

  it('names the missing tensor', async () => {
    const missing = 'text_model.encoder.layers.1.mlp.fc2.bias';
    const g = new GraphBuilder('clip');
    const w = await InlineWeightSource.open(file, g, [missing]);
    const cfg = deriveClipConfig(w, { headDim: 16 });
    expect(() => buildClipTextEncoder(g, w, cfg)).toThrow(MissingTensorError);
    const embedding = await InlineWeightSource.open(file, g, ['text_model.embeddings.token_embedding.weight']);
    expect(() => deriveClipConfig(embedding)).toThrow('clip_l.safetensors: tensor text_model.embeddings.token_embedding.weight is missing');
  });

  it('refuses a width that is not whole 64-wide heads', async () => {
    const w = await InlineWeightSource.open(file, new GraphBuilder('clip'));
    expect(() => deriveClipConfig(w)).toThrow(TensorShapeError);
    expect(() => deriveClipConfig(w)).toThrow(/multiple of the head width 64/);
  });
});
