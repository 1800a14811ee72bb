/**
 * The T5 v1.1 encoder (T5-XXL for FLUX) from HF `T5EncoderModel` keys, as in transformers'
 * modeling_t5.py: unscaled token embedding; per block a pre-norm self-attention without 1/√d
 * scaling (T5 folds it into the initialisation) plus a relative-position bias, and a pre-norm
 * gated-GELU feed-forward (gelu_new(wi_0·x) ⊙ wi_1·x → wo); T5LayerNorm is x/√(mean(x²)+1e-6)·w
 * (no mean subtraction, no bias). Only block 0 holds `relative_attention_bias`; every block adds
 * the same bias.
 *
 * Sizes from tensor shapes: vocabulary and width from `shared.weight` (or
 * `encoder.embed_tokens.weight`) [vocab, width]; blocks from the count of `encoder.block.N`; heads
 * and position buckets from `relative_attention_bias.weight` [buckets, heads]; the head width d_kv
 * from `SelfAttention.q.weight` [heads·d_kv, width]; d_ff from `wi_0.weight` [d_ff, width]. The
 * bias's max_distance (128) is not in the shapes; it is the T5 config default every T5 uses.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { geluTanh, rmsNormalize } from '../onnx/ops.ts';
import { attention, countIndexed, embeddingRows, linear, mergeHeads, shapeOf, splitHeads, TensorShapeError } from './layers.ts';
import { MissingTensorError, type WeightSource } from './weights.ts';

/** T5Config.relative_attention_max_distance. */
export const T5_MAX_DISTANCE = 128;
/** T5Config.layer_norm_epsilon. */
export const T5_LAYER_NORM_EPS = 1e-6;

const EMBEDDING_KEYS = ['encoder.embed_tokens.weight', 'shared.weight'] as const;
const BIAS_KEY = 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';

export interface T5Config {
  readonly vocabSize: number;
  readonly width: number;
  readonly blocks: number;
  readonly heads: number;
  readonly headDim: number;
  readonly ffWidth: number;
  readonly numBuckets: number;
  /** The checkpoint key of the token embedding (the two names of one tied table). */
  readonly embeddingKey: string;
}

export function deriveT5Config(w: WeightSource): T5Config {
  const embeddingKey = EMBEDDING_KEYS.find((k) => w.has(k));
  if (!embeddingKey) throw new MissingTensorError(w.origin, 'shared.weight', 'or encoder.embed_tokens.weight');
  const [vocabSize, width] = shapeOf(w, embeddingKey, [null, null]);
  const blocks = countIndexed(w, 'encoder.block.');
  const [numBuckets, heads] = shapeOf(w, BIAS_KEY, [null, null]);
  const qKey = 'encoder.block.0.layer.0.SelfAttention.q.weight';
  const [inner] = shapeOf(w, qKey, [null, width]);
  if (inner % heads !== 0) throw new TensorShapeError(w.origin, qKey, [inner, width], `rows a multiple of the ${heads} heads of ${BIAS_KEY}`);
  if (!w.has('encoder.block.0.layer.1.DenseReluDense.wi_0.weight')) {
    throw new MissingTensorError(w.origin, 'encoder.block.0.layer.1.DenseReluDense.wi_0.weight', 'T5 v1.1 has a gated feed-forward; original T5 (wi only) is not supported');
  }
  const [ffWidth] = shapeOf(w, 'encoder.block.0.layer.1.DenseReluDense.wi_0.weight', [null, width]);
  return { vocabSize, width, blocks, heads, headDim: inner / heads, ffWidth, numBuckets, embeddingKey };
}

/**
 * T5's bidirectional bucket of a relative position (key − query), in float32 as HF computes it:
 * the sign takes half the buckets, distances below a quarter of them are exact, larger ones are
 * logarithmic up to maxDistance and saturate beyond.
 */
export function t5RelativeBucket(relative: number, numBuckets: number, maxDistance: number = T5_MAX_DISTANCE): number {
  const half = Math.floor(numBuckets / 2);
  const side = relative > 0 ? half : 0;
  const n = Math.abs(relative);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return side + n;
  const f = Math.fround;
  const scaled = f(f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact))) * (half - maxExact));
  return side + Math.min(maxExact + Math.trunc(scaled), half - 1);
}

/**
 * The position bias [heads, n, n] for any n: the key − query offsets, clipped to ±maxDistance
 * (beyond which every bucket is the last), index a bucket table computed here, and the buckets
 * index the checkpoint's relative_attention_bias [buckets, heads].
 */
function positionBias(g: GraphBuilder, w: WeightSource, n: string, cfg: T5Config): string {
  const table = Array.from({ length: 2 * T5_MAX_DISTANCE + 1 }, (_, i) => t5RelativeBucket(i - T5_MAX_DISTANCE, cfg.numBuckets));
  const count = g.op('Squeeze', [n, g.constI64([0])]);
  const positions = g.op('Range', [g.constI64([0], []), count, g.constI64([1], [])]); // [n]
  const relative = g.op('Sub', [g.op('Unsqueeze', [positions, g.constI64([0])]), g.op('Unsqueeze', [positions, g.constI64([1])])]); // [q, k] = k − q
  const clipped = g.op('Min', [g.op('Max', [relative, g.constI64([-T5_MAX_DISTANCE], [])]), g.constI64([T5_MAX_DISTANCE], [])]);
  const buckets = g.op('Gather', [g.constI64(table), g.op('Add', [clipped, g.constI64([T5_MAX_DISTANCE], [])])], { axis: 0 });
  const bias = g.op('Gather', [w.value(BIAS_KEY), buckets], { axis: 0 }); // [q, k, heads]
  return g.op('Transpose', [bias], { perm: [2, 0, 1] }, { name: 'position_bias' });
}

function t5LayerNorm(g: GraphBuilder, w: WeightSource, x: string, key: string): string {
  return g.op('Mul', [rmsNormalize(g, x, T5_LAYER_NORM_EPS), w.value(key)], {}, { name: 'layer_norm' });
}

/** Graph `input_ids` int64 [1, n] → `last_hidden_state` [1, n, width] (the bundle's text_encoder_2). */
export function buildT5Encoder(g: GraphBuilder, w: WeightSource, cfg: T5Config): void {
  const ids = g.input('input_ids', 'int64', [1, 'sequence']);
  const n = g.op('Shape', [ids], { start: 1, end: 2 });
  let h = embeddingRows(g, w, cfg.embeddingKey, g.op('Squeeze', [ids, g.constI64([0])])); // [n, width]
  const bias = positionBias(g, w, n, cfg);
  for (let i = 0; i < cfg.blocks; i++) {
    const block = `encoder.block.${i}`;
    h = g.scope(block, () => {
      const attn = `${block}.layer.0.SelfAttention`;
      const x = t5LayerNorm(g, w, h, `${block}.layer.0.layer_norm.weight`);
      const heads = (proj: string) => splitHeads(g, linear(g, w, x, `${attn}.${proj}`, { bias: false }), cfg.heads, cfg.headDim);
      const mixed = mergeHeads(g, attention(g, heads('q'), heads('k'), heads('v'), { bias }), cfg.heads * cfg.headDim);
      const attended = g.op('Add', [h, linear(g, w, mixed, `${attn}.o`, { bias: false })]);
      const ff = `${block}.layer.1.DenseReluDense`;
      const y = t5LayerNorm(g, w, attended, `${block}.layer.1.layer_norm.weight`);
      const gated = g.op('Mul', [geluTanh(g, linear(g, w, y, `${ff}.wi_0`, { bias: false })), linear(g, w, y, `${ff}.wi_1`, { bias: false })]);
      return g.op('Add', [attended, linear(g, w, gated, `${ff}.wo`, { bias: false })], {}, { name: 'out' });
    });
  }
  const last = t5LayerNorm(g, w, h, 'encoder.final_layer_norm.weight');
  g.op('Unsqueeze', [last, g.constI64([0])], {}, { outputs: ['last_hidden_state'] });
  g.output('last_hidden_state', 'float32', [1, 'sequence', cfg.width]);
}
