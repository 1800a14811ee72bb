/**
 * The T5 encoder built from HF T5EncoderModel keys against the Python reference
 * (test/convert/reference-encoders/reference.py: 2 blocks, 4 heads × 8, d_ff 64). Float32 within
 * 1e-4; the bf16 checkpoint against the reference run on the same bf16-rounded weights. The long
 * prompt (140 tokens) reaches relative distances past max_distance 128, where buckets saturate.
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { buildT5Encoder, deriveT5Config, t5RelativeBucket } from '../../runtime/convert/t5.ts';
import { MissingTensorError } from '../../runtime/convert/weights.ts';
import { InlineWeightSource } from './helpers/inline-source.ts';
import { FIXTURES, ids, maxAbsDiff, readFixture, runGraph } from './helpers/reference.ts';

interface T5Fixture {
  checkpoint: string;
  config: { vocab: number; width: number; heads: number; d_kv: number; d_ff: number; blocks: number };
  cases: Record<string, { input_ids: number[]; last_hidden_state: number[] }>;
  relative_buckets?: { from: number; num_buckets: number; max_distance: number; buckets: number[] };
}

const TOLERANCE = 1e-4;

describe.each(['t5xxl.json', 't5xxl_bf16.json'])('T5 encoder (%s)', (name) => {
  const fixture = readFixture<T5Fixture>(name);
  const file = FIXTURES + fixture.checkpoint;

  it('derives the layout from tensor shapes', async () => {
    const w = await InlineWeightSource.open(file, new GraphBuilder('t5'));
    const c = fixture.config;
    expect(deriveT5Config(w)).toEqual({
      vocabSize: c.vocab, width: c.width, blocks: c.blocks, heads: c.heads, headDim: c.d_kv, ffWidth: c.d_ff, numBuckets: 32, embeddingKey: 'shared.weight',
    });
  });

  it.each(Object.keys(fixture.cases))('matches the reference on the %s prompt', async (caseName) => {
    const g = new GraphBuilder('text_encoder_2');
    const w = await InlineWeightSource.open(file, g);
    buildT5Encoder(g, w, deriveT5Config(w));
    const c = fixture.cases[caseName];
    const out = await runGraph(g, { input_ids: ids(c.input_ids) });
    expect(maxAbsDiff(out.last_hidden_state, c.last_hidden_state, [1, c.input_ids.length, fixture.config.width])).toBeLessThan(TOLERANCE);
    expect([...w.used].sort()).toEqual(w.keys().sort());
  });
});

describe('T5 relative position buckets', () => {
  it('equal HF\'s float32 bucketing from −300 to 300', () => {
    const ref = readFixture<T5Fixture>('t5xxl.json').relative_buckets!;
    const ours = ref.buckets.map((_, i) => t5RelativeBucket(ref.from + i, ref.num_buckets, ref.max_distance));
    expect(ours).toEqual(ref.buckets);
  });
});

describe('T5 checkpoint refusals', () => {
  const file = FIXTURES + 't5xxl.safetensors';

  it('names the missing tensor', async () => {
    const none = await InlineWeightSource.open(file, new GraphBuilder('t5'), ['shared.weight']);
    expect(() => deriveT5Config(none)).toThrow('t5xxl.safetensors: tensor shared.weight is missing (or encoder.embed_tokens.weight)');
    const noBias = await InlineWeightSource.open(file, new GraphBuilder('t5'), ['encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight']);
    expect(() => deriveT5Config(noBias)).toThrow(/relative_attention_bias\.weight is missing/);
    const missing = 'encoder.block.1.layer.1.DenseReluDense.wo.weight';
    const g = new GraphBuilder('t5');
    const w = await InlineWeightSource.open(file, g, [missing]);
    expect(() => buildT5Encoder(g, w, deriveT5Config(w))).toThrow(MissingTensorError);
  });

  it('refuses original T5 (no gated feed-forward)', async () => {
    const all = await InlineWeightSource.open(file, new GraphBuilder('x'));
    const w = await InlineWeightSource.open(file, new GraphBuilder('t5'), all.keys().filter((k) => k.includes('wi_0')));
    expect(() => deriveT5Config(w)).toThrow(/wi_0\.weight is missing \(T5 v1\.1 has a gated feed-forward/);
  });
});
