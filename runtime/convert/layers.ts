/**
 * Layers of the converted graphs, reading their parameters from a WeightSource by checkpoint key.
 * Weights keep the checkpoint's layout (Linear [out, in] is used through Gemm's transB, Conv2d
 * [out, in, kh, kw] is ONNX's own), so no weight is transposed or copied at session creation.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { MissingTensorError, type PackedLinear, type WeightSource } from './weights.ts';

export class TensorShapeError extends Error {
  constructor(readonly origin: string, readonly key: string, actual: readonly number[], expected: string) {
    super(`${origin}: tensor ${key} has shape [${actual.join(', ')}], expected ${expected}; the checkpoint is not the expected model`);
    this.name = 'TensorShapeError';
  }
}

/** The shape of `key`, checked against `expected` (null = any size in that axis). */
export function shapeOf(w: WeightSource, key: string, expected: readonly (number | null)[]): readonly number[] {
  if (!w.has(key)) throw new MissingTensorError(w.origin, key);
  const shape = w.shape(key);
  if (shape.length !== expected.length || expected.some((d, i) => d !== null && d !== shape[i])) {
    throw new TensorShapeError(w.origin, key, shape, `[${expected.map((d) => d ?? '?').join(', ')}]`);
  }
  return shape;
}

/**
 * How many numbered children `${prefix}0.`, `${prefix}1.`, … the checkpoint has (blocks, layers,
 * levels). A gap (children 0 and 2 without 1) is refused naming the first missing child.
 */
export function countIndexed(w: WeightSource, prefix: string): number {
  const seen = new Set<number>();
  for (const key of w.keys(prefix)) {
    const match = /^(\d+)\./.exec(key.slice(prefix.length));
    if (match) seen.add(Number(match[1]));
  }
  for (let i = 0; i < seen.size; i++) {
    if (!seen.has(i)) throw new MissingTensorError(w.origin, `${prefix}${i}.*`, `found ${prefix}${Math.max(...seen)}.* but not ${prefix}${i}.*`);
  }
  return seen.size;
}

/** Linear on rows: x [N, in] → x·Wᵀ + b [N, out], with W stored [out, in]. */
export function linear(g: GraphBuilder, w: WeightSource, x: string, prefix: string, options: { bias?: boolean } = {}): string {
  const packed = w.packedLinear?.(`${prefix}.weight`);
  if (packed) {
    const y = packedMatMul(g, x, packed);
    return options.bias === false ? y : g.op('Add', [y, w.value(`${prefix}.bias`)], {}, { name: prefix.split('.').pop() });
  }
  const inputs = [x, w.value(`${prefix}.weight`)];
  if (options.bias !== false) inputs.push(w.value(`${prefix}.bias`));
  return g.op('Gemm', inputs, { transB: 1 }, { name: prefix.split('.').pop() });
}

/**
 * x [N, k] · Wᵀ with W in blocks (com.microsoft.MatMulNBits, which keeps the codes packed in memory).
 * Offsets (types with a minimum at 8 bits) add Σ of x over each block times the block's offset.
 */
export function packedMatMul(g: GraphBuilder, x: string, p: PackedLinear): string {
  const inputs = [x, p.b, p.scales, ...(p.zeros ? [p.zeros] : [])];
  const attrs = { K: p.k, N: p.n, bits: p.bits, block_size: p.block, accuracy_level: p.accuracyLevel };
  const y = g.op('MatMulNBits', inputs, attrs, { domain: 'com.microsoft', name: 'matmul_nbits' });
  if (!p.offsets) return y;
  const sums = g.op('ReduceSum', [g.op('Reshape', [x, g.constI64([-1, p.k / p.block, p.block])]), g.constI64([2])], { keepdims: 0 }, { name: 'block_sums' });
  return g.op('Add', [y, g.op('Gemm', [sums, p.offsets], { transB: 1 }, { name: 'block_offsets' })]);
}

/** Rows of an embedding table at int64 `indices` [n] → [n, width]. */
export function embeddingRows(g: GraphBuilder, w: WeightSource, key: string, indices: string): string {
  return w.gatherRows ? w.gatherRows(key, indices) : g.op('Gather', [w.value(key), indices], { axis: 0 }, { name: 'embeddings' });
}

/** LayerNormalization over the last axis with the checkpoint's weight and bias. */
export function layerNorm(g: GraphBuilder, w: WeightSource, x: string, prefix: string, eps: number): string {
  return g.op('LayerNormalization', [x, w.value(`${prefix}.weight`), w.value(`${prefix}.bias`)], { axis: -1, epsilon: { f: eps } }, { name: 'layer_norm' });
}

/** Conv2d with the checkpoint's weight [out, in, kh, kw] and bias; `pads` is ONNX's [top, left, bottom, right]. */
export function conv2d(g: GraphBuilder, w: WeightSource, x: string, prefix: string, options: { stride?: number; pads?: readonly number[] } = {}): string {
  const weight = `${prefix}.weight`;
  const [, , kh, kw] = shapeOf(w, weight, [null, null, null, null]);
  const stride = options.stride ?? 1;
  const pads = options.pads ?? [(kh - 1) / 2, (kw - 1) / 2, (kh - 1) / 2, (kw - 1) / 2];
  return g.op('Conv', [x, w.value(weight), w.value(`${prefix}.bias`)], { kernel_shape: [kh, kw], strides: [stride, stride], pads: [...pads] }, { name: 'conv' });
}

/**
 * GroupNorm over [N, C, H, W]: InstanceNormalization of the [N, groups, C/groups·H·W] view
 * normalises each group, then the checkpoint's per-channel weight and bias apply.
 */
export function groupNorm(g: GraphBuilder, w: WeightSource, x: string, prefix: string, groups: number, eps: number): string {
  const [channels] = shapeOf(w, `${prefix}.weight`, [null]);
  if (channels % groups !== 0) throw new TensorShapeError(w.origin, `${prefix}.weight`, [channels], `a multiple of ${groups} channels (GroupNorm groups)`);
  const grouped = g.op('Reshape', [x, g.constI64([0, groups, -1])]);
  const ones = g.constF(new Array<number>(groups).fill(1));
  const zeros = g.constF(new Array<number>(groups).fill(0));
  const normed = g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: { f: eps } });
  const back = g.op('Reshape', [normed, g.op('Shape', [x])]);
  const perChannel = (key: string) => g.op('Unsqueeze', [w.value(key), g.constI64([1, 2])]); // [C, 1, 1]
  return g.op('Add', [g.op('Mul', [back, perChannel(`${prefix}.weight`)]), perChannel(`${prefix}.bias`)], {}, { name: 'group_norm' });
}

/**
 * softmax(q·kᵀ·scale + bias)·v over the last two axes of [..., n, d] operands; `bias` broadcasts
 * against the [..., n_q, n_k] scores (a causal mask, a position bias).
 */
export function attention(g: GraphBuilder, q: string, k: string, v: string, options: { scale?: number; bias?: string } = {}): string {
  let scores = g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 2, 1] })], {}, { name: 'scores' });
  if (options.scale !== undefined && options.scale !== 1) scores = g.op('Mul', [scores, g.constF(options.scale)]);
  if (options.bias) scores = g.op('Add', [scores, options.bias]);
  return g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v], {}, { name: 'attention' });
}

/** [n, heads·d] rows → [heads, n, d]. */
export function splitHeads(g: GraphBuilder, x: string, heads: number, headDim: number): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.constI64([-1, heads, headDim])])], { perm: [1, 0, 2] });
}

/** [heads, n, d] → [n, heads·d] rows. */
export function mergeHeads(g: GraphBuilder, x: string, width: number): string {
  return g.op('Reshape', [g.op('Transpose', [x], { perm: [1, 0, 2] }), g.constI64([-1, width])]);
}
