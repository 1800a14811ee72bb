/**
 * The CLIP-L text encoder from HF `CLIPTextModel` keys (`text_model.*`), as in transformers'
 * modeling_clip.py: token + position embedding, pre-LayerNorm layers of causal self-attention
 * (scaled by head_dim^-0.5) and a quick_gelu MLP, final LayerNorm. FLUX uses the pooled output:
 * the final state at argmax(input_ids), the first end-of-text token (CLIP-L's config keeps the
 * legacy eos_token_id 2, which selects this path; FLUX pads with end-of-text, the largest id).
 *
 * Sizes from tensor shapes: width and vocabulary from `token_embedding.weight` [vocab, width],
 * positions (the longest input) from `position_embedding.weight`, layers from the count of
 * `encoder.layers.N`, MLP width from `fc1.weight` [inner, width]. Heads are not in the shapes: CLIP
 * uses 64-wide heads (CLIP-L: 768 = 12 × 64), so heads = width / headDim. Extra tensors
 * (`text_projection.weight`, `embeddings.position_ids`) are ignored.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { quickGelu } from '../onnx/ops.ts';
import { attention, countIndexed, layerNorm, linear, mergeHeads, shapeOf, splitHeads, TensorShapeError } from './layers.ts';
import { MissingTensorError, type WeightSource } from './weights.ts';

/** Head width of OpenAI's CLIP text towers (config num_attention_heads = hidden_size / 64). */
export const CLIP_HEAD_DIM = 64;
/** CLIPTextConfig.layer_norm_eps. */
export const CLIP_LAYER_NORM_EPS = 1e-5;

const PREFIX = 'text_model';

export interface ClipConfig {
  readonly vocabSize: number;
  readonly width: number;
  /** Position embeddings: the longest input_ids (77 for CLIP-L). */
  readonly positions: number;
  readonly layers: number;
  readonly heads: number;
  readonly headDim: number;
  readonly mlpWidth: number;
}

/** `headDim` is only for checkpoints that are not OpenAI CLIP (the tiny test models). */
export function deriveClipConfig(w: WeightSource, options: { headDim?: number } = {}): ClipConfig {
  const headDim = options.headDim ?? CLIP_HEAD_DIM;
  const [vocabSize, width] = shapeOf(w, `${PREFIX}.embeddings.token_embedding.weight`, [null, null]);
  const [positions] = shapeOf(w, `${PREFIX}.embeddings.position_embedding.weight`, [null, width]);
  const layers = countIndexed(w, `${PREFIX}.encoder.layers.`);
  if (layers === 0) throw new MissingTensorError(w.origin, `${PREFIX}.encoder.layers.0.self_attn.q_proj.weight`);
  const [mlpWidth] = shapeOf(w, `${PREFIX}.encoder.layers.0.mlp.fc1.weight`, [null, width]);
  if (width % headDim !== 0) {
    throw new TensorShapeError(w.origin, `${PREFIX}.embeddings.token_embedding.weight`, [vocabSize, width], `a width that is a multiple of the head width ${headDim}`);
  }
  return { vocabSize, width, positions, layers, heads: width / headDim, headDim, mlpWidth };
}

/**
 * Graph `input_ids` int64 [1, n] (n ≤ positions) → `last_hidden_state` [1, n, width] and
 * `pooler_output` [1, width] (the bundle's text_encoder).
 */
export function buildClipTextEncoder(g: GraphBuilder, w: WeightSource, cfg: ClipConfig): void {
  const ids = g.input('input_ids', 'int64', [1, 'sequence']);
  const n = g.op('Shape', [ids], { start: 1, end: 2 }); // [1]
  const tokens = g.op('Gather', [w.value(`${PREFIX}.embeddings.token_embedding.weight`), g.op('Squeeze', [ids, g.constI64([0])])], { axis: 0 }); // [n, width]
  const positions = g.op('Slice', [w.value(`${PREFIX}.embeddings.position_embedding.weight`), g.constI64([0]), n, g.constI64([0])]);
  let h = g.op('Add', [tokens, positions], {}, { name: 'embeddings' });

  // Causal mask [n, n]: the float32 minimum above the diagonal (as HF; -inf could make NaN rows).
  const square = g.op('Concat', [n, n], { axis: 0 });
  const mask = g.op('Trilu', [g.op('Expand', [g.constF(-3.4028234663852886e38), square]), g.constI64([1], [])], { upper: 1 }, { name: 'causal_mask' });

  for (let i = 0; i < cfg.layers; i++) {
    const layer = `${PREFIX}.encoder.layers.${i}`;
    h = g.scope(layer, () => {
      const x = layerNorm(g, w, h, `${layer}.layer_norm1`, CLIP_LAYER_NORM_EPS);
      const heads = (proj: string) => splitHeads(g, linear(g, w, x, `${layer}.self_attn.${proj}`), cfg.heads, cfg.headDim);
      const mixed = attention(g, heads('q_proj'), heads('k_proj'), heads('v_proj'), { scale: cfg.headDim ** -0.5, bias: mask });
      const attended = g.op('Add', [h, linear(g, w, mergeHeads(g, mixed, cfg.width), `${layer}.self_attn.out_proj`)]);
      const m = linear(g, w, quickGelu(g, linear(g, w, layerNorm(g, w, attended, `${layer}.layer_norm2`, CLIP_LAYER_NORM_EPS), `${layer}.mlp.fc1`)), `${layer}.mlp.fc2`);
      return g.op('Add', [attended, m], {}, { name: 'out' });
    });
  }
  const last = layerNorm(g, w, h, `${PREFIX}.final_layer_norm`, CLIP_LAYER_NORM_EPS); // [n, width]
  g.op('Unsqueeze', [last, g.constI64([0])], {}, { outputs: ['last_hidden_state'] });
  const eos = g.op('ArgMax', [ids], { axis: 1, keepdims: 0 }, { name: 'eos_index' }); // [1], the first maximum
  g.op('Gather', [last, eos], { axis: 0 }, { outputs: ['pooler_output'] });
  g.output('last_hidden_state', 'float32', [1, 'sequence', cfg.width]);
  g.output('pooler_output', 'float32', [1, cfg.width]);
}
