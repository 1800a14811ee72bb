/**
 * The Qwen3 decoder as a text encoder, from HF `Qwen3ForCausalLM` keys (`model.embed_tokens`,
 * `model.layers.N.…`, `model.norm`), as in transformers' modeling_qwen3.py: per layer a pre-norm
 * causal self-attention with grouped key/value heads (each key/value head serves heads/kvHeads query
 * heads), an RMSNorm on every query and key head before a rotate-half RoPE, and a pre-norm SwiGLU MLP
 * (down(silu(gate(x)) ⊙ up(x))); RMSNorm is x/√(mean(x²)+eps)·w. No linear has a bias.
 *
 * A diffusion model reads hidden states, not logits, so the graph returns a chosen set of
 * `output.hidden_states` entries concatenated per token: index 0 is the embeddings, index i the output
 * of decoder layer i − 1, and the last index (= layers) the final layer after the final norm. FLUX.2
 * [klein] takes 9, 18 and 27; Z-Image the second-to-last (−2). Layers past the last one asked for are
 * left out of the graph.
 *
 * Sizes from tensor shapes: vocabulary and width from `model.embed_tokens.weight` [vocab, width];
 * layers from the count of `model.layers.N`; the head width from `q_norm.weight` [headDim] (Qwen3's
 * head width is its own setting: 128 for Qwen3-4B, whose 32 heads are 4096 wide over a 2560 model);
 * heads and key/value heads from `q_proj`/`k_proj` rows; the MLP width from `gate_proj`. RoPE θ and the
 * norm eps are not in any shape: they are the Qwen3 config values every Qwen3 uses.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { rmsNormalize, silu } from '../onnx/ops.ts';
import { attention, countIndexed, linear, mergeHeads, shapeOf, TensorShapeError } from './layers.ts';
import { MissingTensorError, type WeightSource } from './weights.ts';

/** Qwen3Config.rope_theta and rms_norm_eps (the same for every Qwen3 size). */
export const QWEN3_ROPE_THETA = 1_000_000;
export const QWEN3_RMS_EPS = 1e-6;

/** The graph's inputs and output. */
export const QWEN3_INPUTS = Object.freeze({ ids: 'input_ids', mask: 'attention_mask' });
export const QWEN3_OUTPUT = 'hidden_states';

export interface Qwen3Config {
  readonly vocabSize: number;
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly mlpWidth: number;
}

const layerKey = (i: number, rest: string) => `model.layers.${i}.${rest}`;

export function deriveQwen3Config(w: WeightSource): Qwen3Config {
  const [vocabSize, width] = shapeOf(w, 'model.embed_tokens.weight', [null, null]);
  const layers = countIndexed(w, 'model.layers.');
  if (layers === 0) throw new MissingTensorError(w.origin, layerKey(0, 'self_attn.q_proj.weight'), 'no decoder layers');
  const [headDim] = shapeOf(w, layerKey(0, 'self_attn.q_norm.weight'), [null]);
  const rows = (key: string) => {
    const [out] = shapeOf(w, key, [null, width]);
    if (out % headDim !== 0) throw new TensorShapeError(w.origin, key, [out, width], `rows a multiple of the head width ${headDim} (q_norm)`);
    return out / headDim;
  };
  const heads = rows(layerKey(0, 'self_attn.q_proj.weight'));
  const kvHeads = rows(layerKey(0, 'self_attn.k_proj.weight'));
  if (heads % kvHeads !== 0) throw new TensorShapeError(w.origin, layerKey(0, 'self_attn.k_proj.weight'), [kvHeads * headDim, width], `a number of heads that divides the ${heads} query heads`);
  const [mlpWidth] = shapeOf(w, layerKey(0, 'mlp.gate_proj.weight'), [null, width]);
  const config = { vocabSize, width, layers, heads, kvHeads, headDim, mlpWidth };
  for (const [key, shape] of qwen3Shapes(config)) shapeOf(w, key, shape);
  return config;
}

/** Every tensor the encoder reads, with its shape (an lm_head, if present, is not read). */
export function qwen3Shapes(c: Qwen3Config): Map<string, number[]> {
  const shapes = new Map<string, number[]>([
    ['model.embed_tokens.weight', [c.vocabSize, c.width]],
    ['model.norm.weight', [c.width]],
  ]);
  for (let i = 0; i < c.layers; i++) {
    const set = (rest: string, shape: number[]) => shapes.set(layerKey(i, rest), shape);
    set('self_attn.q_proj.weight', [c.heads * c.headDim, c.width]);
    set('self_attn.k_proj.weight', [c.kvHeads * c.headDim, c.width]);
    set('self_attn.v_proj.weight', [c.kvHeads * c.headDim, c.width]);
    set('self_attn.o_proj.weight', [c.width, c.heads * c.headDim]);
    set('self_attn.q_norm.weight', [c.headDim]);
    set('self_attn.k_norm.weight', [c.headDim]);
    set('mlp.gate_proj.weight', [c.mlpWidth, c.width]);
    set('mlp.up_proj.weight', [c.mlpWidth, c.width]);
    set('mlp.down_proj.weight', [c.width, c.mlpWidth]);
    set('input_layernorm.weight', [c.width]);
    set('post_attention_layernorm.weight', [c.width]);
  }
  return shapes;
}

/**
 * What the graph reads for these hidden states: the decoder layers up to the last state asked for,
 * and the final norm only when that state is the last one (the memory planner counts the same).
 */
export function qwen3LayersRead(c: Pick<Qwen3Config, 'layers'>, hiddenStates: readonly number[]): { layers: number; finalNorm: boolean } {
  const last = Math.max(...resolveHiddenStates(hiddenStates, c.layers));
  return { layers: Math.min(last, c.layers), finalNorm: last === c.layers };
}

/** The tensors the graph reads for these hidden states, with their shapes. */
export function qwen3ReadShapes(c: Qwen3Config, hiddenStates: readonly number[]): Map<string, number[]> {
  const read = qwen3LayersRead(c, hiddenStates);
  const layer = (key: string) => /^model\.layers\.(\d+)\./.exec(key)?.[1];
  return new Map([...qwen3Shapes(c)].filter(([key]) => {
    const i = layer(key);
    return i === undefined ? key !== 'model.norm.weight' || read.finalNorm : Number(i) < read.layers;
  }));
}

/**
 * `output.hidden_states` indices as non-negative ones: there are layers + 1 entries, and a negative
 * index counts from the end as in Python (−1 is the normed final layer, −2 the layer before it).
 */
export function resolveHiddenStates(indices: readonly number[], layers: number): number[] {
  if (indices.length === 0) throw new RangeError('at least one hidden-state index is needed');
  return indices.map((i) => {
    const resolved = i < 0 ? layers + 1 + i : i;
    if (!Number.isInteger(i) || resolved < 0 || resolved > layers) {
      throw new RangeError(`hidden-state index ${i} is outside the ${layers + 1} hidden states of a ${layers}-layer Qwen3 (0…${layers}, or −1…−${layers + 1})`);
    }
    return resolved;
  });
}

/** inv_freq of rotate-half RoPE, computed in float32 as transformers does. */
function inverseFrequencies(headDim: number): number[] {
  const f = Math.fround;
  return Array.from({ length: headDim / 2 }, (_, i) => f(1 / f(QWEN3_ROPE_THETA ** f((2 * i) / headDim))));
}

/**
 * Graph `input_ids` and `attention_mask` int64 [1, n] → `hidden_states` [1, n, k·width], the chosen
 * k hidden states side by side in the order asked (flux2's stack-then-flatten per token). Every row
 * is computed, padding included: a padded row attends to the real tokens before it, as in the model.
 */
export function buildQwen3Encoder(g: GraphBuilder, w: WeightSource, c: Qwen3Config, options: { hiddenStates: readonly number[] }): void {
  const wanted = resolveHiddenStates(options.hiddenStates, c.layers);
  const read = qwen3LayersRead(c, options.hiddenStates);
  const ids = g.input(QWEN3_INPUTS.ids, 'int64', [1, 'sequence']);
  const mask = g.input(QWEN3_INPUTS.mask, 'int64', [1, 'sequence']);
  const n = g.op('Shape', [ids], { start: 1, end: 2 });
  const positions = g.op('Range', [g.constI64([0], []), g.op('Squeeze', [n, g.constI64([0])]), g.constI64([1], [])]); // [n]

  // RoPE: cos/sin [1, n, headDim] of the positions 0…n−1, each frequency in both halves.
  const [cos, sin] = g.scope('rope', () => {
    const freqs = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [positions], { to: 1 }), g.constI64([1])]), g.constF(inverseFrequencies(c.headDim))]);
    const angles = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.constI64([0])]);
    return [g.op('Cos', [angles]), g.op('Sin', [angles])];
  });
  const rotate = (x: string) => {
    const [x1, x2] = g.opN('Split', [x], 2, { axis: -1 });
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])], {}, { name: 'roped' });
  };

  // Causal and padding mask as an additive bias [1, n, n]: key k is seen by query q when k ≤ q and
  // the mask keeps k (transformers fills the rest with float32's lowest value).
  const bias = g.scope('mask', () => {
    const offset = g.op('Sub', [g.op('Unsqueeze', [positions, g.constI64([0])]), g.op('Unsqueeze', [positions, g.constI64([1])])]); // [q, k] = k − q
    const causal = g.op('LessOrEqual', [offset, g.constI64([0], [])]);
    const kept = g.op('Cast', [mask], { to: 9 }); // bool [1, n]
    const allowed = g.op('And', [causal, kept]);
    return g.op('Where', [allowed, g.constF(0), g.constF(-3.4028234663852886e38)], {}, { name: 'attention_bias' });
  });

  const norm = (x: string, key: string) => g.op('Mul', [rmsNormalize(g, x, QWEN3_RMS_EPS), w.value(key)], {}, { name: 'rms_norm' });
  const group = c.heads / c.kvHeads;
  /** [n, count·hd] → [count, n, hd], with the per-head RMSNorm when `normKey` is given. */
  const heads = (x: string, count: number, normKey?: string) => {
    let split = g.op('Reshape', [x, g.constI64([0, count, c.headDim])]);
    if (normKey) split = norm(split, normKey);
    return g.op('Transpose', [split], { perm: [1, 0, 2] });
  };
  /** Key/value heads repeated for their query heads: [kv, n, hd] → [heads, n, hd] (repeat_kv). */
  const repeatKv = (x: string) =>
    group === 1 ? x : g.op('Reshape', [g.op('Expand', [g.op('Unsqueeze', [x, g.constI64([1])]), g.constI64([1, group, 1, 1])]), g.constI64([c.heads, -1, c.headDim])], {}, { name: 'repeat_kv' });

  let h = g.op('Gather', [w.value('model.embed_tokens.weight'), g.op('Squeeze', [ids, g.constI64([0])])], { axis: 0 }, { name: 'embeddings' }); // [n, width]
  const states = new Map<number, string>([[0, h]]);
  for (let i = 0; i < read.layers; i++) {
    h = g.scope(`model.layers.${i}`, () => {
      const key = (rest: string) => layerKey(i, rest);
      const x = norm(h, key('input_layernorm.weight'));
      const project = (name: string) => linear(g, w, x, key(`self_attn.${name}`), { bias: false });
      const q = rotate(heads(project('q_proj'), c.heads, key('self_attn.q_norm.weight')));
      const k = repeatKv(rotate(heads(project('k_proj'), c.kvHeads, key('self_attn.k_norm.weight'))));
      const v = repeatKv(heads(project('v_proj'), c.kvHeads));
      const mixed = mergeHeads(g, attention(g, q, k, v, { scale: 1 / Math.sqrt(c.headDim), bias }), c.heads * c.headDim);
      const attended = g.op('Add', [h, linear(g, w, mixed, key('self_attn.o_proj'), { bias: false })]);
      const y = norm(attended, key('post_attention_layernorm.weight'));
      const mlp = (name: string) => linear(g, w, y, key(`mlp.${name}`), { bias: false });
      const gated = g.op('Mul', [silu(g, mlp('gate_proj')), mlp('up_proj')]);
      return g.op('Add', [attended, linear(g, w, gated, key('mlp.down_proj'), { bias: false })], {}, { name: 'out' });
    });
    states.set(i + 1, h);
  }
  if (read.finalNorm) states.set(c.layers, norm(h, 'model.norm.weight'));

  const picked = wanted.map((i) => states.get(i)!);
  const joined = picked.length === 1 ? picked[0] : g.op('Concat', picked, { axis: -1 }, { name: 'stacked' });
  g.op('Unsqueeze', [joined, g.constI64([0])], {}, { outputs: [QWEN3_OUTPUT] });
  g.output(QWEN3_OUTPUT, 'float32', [1, 'sequence', wanted.length * c.width]);
}
