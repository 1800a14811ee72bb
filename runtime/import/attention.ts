/**
 * Attention in an exported transformer: fused ops are counted; unfused ones are found as
 * MatMul(q, kᵀ) → [Mul|Div scale] → Softmax → MatMul(·, v), including TorchScript's export of
 * scaled_dot_product_attention, which scales q and kᵀ each by √scale before the MatMul.
 * Unfused attention materialises a heads × S × S score matrix: at 4096² px (S ≈ 66 000 tokens)
 * that is hundreds of GB. `fuseAttention` rewrites matches to com.microsoft.MultiHeadAttention.
 */
import type { NodeProto } from 'onnx-buf';
import { GraphIndex, ensureOpset, nodeLabel, pruneDead, type OnnxModel } from '../onnx/graph.ts';
import { DataType, attrInt, attrInts, makeNode, makeTensor } from '../onnx/proto.ts';

export const MS_DOMAIN = 'com.microsoft';
const FUSED_MS_OPS = new Set(['MultiHeadAttention', 'Attention', 'GroupQueryAttention', 'PackedMultiHeadAttention', 'PackedAttention', 'SparseAttention']);

/** A scale factor of the scores: a constant, or a data-independent value (computed from shapes). */
export type ScaleFactor = { kind: 'constant'; value: number; invert: boolean } | { kind: 'dynamic'; name: string; invert: boolean };

export interface AttentionMatch {
  softmax: NodeProto;
  /** MatMul(q, kᵀ). */
  scores: NodeProto;
  /** MatMul(probabilities, v). */
  output: NodeProto;
  form: 'post-scale' | 'pre-scale' | 'unscaled';
  q: string;
  /** The key before its transpose, when kᵀ is Transpose(k, [0,1,3,2]). */
  k: string | null;
  kT: string;
  v: string;
  scales: ScaleFactor[];
  /** Nodes of the pattern (removed when the rewrite leaves them unused). */
  nodes: NodeProto[];
  /** Why it cannot be rewritten, when it cannot. */
  blocker?: string;
}

export interface AttentionReport {
  /** Fused attention ops by type (com.microsoft.* and ONNX Attention). */
  fused: Record<string, number>;
  fusedCount: number;
  unfused: AttentionMatch[];
}

/**
 * Values that depend on activations: everything reachable from the (non-initializer) graph inputs,
 * except through Shape/Size. The rest — constants and values computed from shapes, like
 * TorchScript's 1/√E attention scale — are data-independent.
 */
function activationValues(index: GraphIndex): Set<string> {
  const starts = [...index.inputs.keys()].filter((n) => !index.initializers.has(n));
  const seen = new Set<string>(starts);
  const queue = [...starts];
  while (queue.length) {
    for (const node of index.consumersOf(queue.pop()!)) {
      if (node.opType === 'Shape' || node.opType === 'Size') continue;
      for (const out of node.output) {
        if (out && !seen.has(out)) {
          seen.add(out);
          queue.push(out);
        }
      }
    }
  }
  return seen;
}

/** `opset`: the model's ONNX opset (Softmax's default axis changed at 13). */
export function findAttention(index: GraphIndex, modelDir: string, opset: number): AttentionReport {
  const fused: Record<string, number> = {};
  for (const node of index.graph.node) {
    const msFused = node.domain === MS_DOMAIN && FUSED_MS_OPS.has(node.opType);
    const onnxFused = (node.domain === '' || node.domain === 'ai.onnx') && node.opType === 'Attention';
    if (msFused || onnxFused) {
      const key = msFused ? `${MS_DOMAIN}.${node.opType}` : node.opType;
      fused[key] = (fused[key] ?? 0) + 1;
    }
  }
  const activations = activationValues(index);
  const dataIndependent = (value: string) => !activations.has(value);
  const scaleOf = (value: string, invert: boolean): ScaleFactor => {
    const c = index.constantValues(value, modelDir);
    return c && c.values.length === 1 ? { kind: 'constant', value: c.values[0], invert } : { kind: 'dynamic', name: value, invert };
  };
  /** Mul(x, s) with s data-independent → [x, s]; else null. */
  const splitMul = (node: NodeProto | undefined): [string, string] | null => {
    if (node?.opType !== 'Mul') return null;
    const [a, b] = node.input;
    const ia = dataIndependent(a);
    const ib = dataIndependent(b);
    if (ia === ib) return null;
    return ia ? [b, a] : [a, b];
  };

  const unfused: AttentionMatch[] = [];
  for (const softmax of index.graph.node) {
    if (softmax.opType !== 'Softmax') continue;
    const users = index.consumersOf(softmax.output[0]);
    if (users.length !== 1 || users[0].opType !== 'MatMul' || users[0].input[0] !== softmax.output[0]) continue;
    const output = users[0];
    const nodes: NodeProto[] = [softmax, output];
    const scales: ScaleFactor[] = [];
    let blocker: string | undefined;
    let x = softmax.input[0];
    let p = index.producer.get(x);
    if (p?.opType === 'Add') {
      blocker = `${nodeLabel(p)} adds a mask/bias before the Softmax`;
      nodes.push(p);
      const data = p.input.find((i) => index.producer.get(i)?.opType !== 'Constant' && !dataIndependent(i) && ['MatMul', 'Mul', 'Div'].includes(index.producer.get(i)?.opType ?? ''));
      if (!data) continue;
      x = data;
      p = index.producer.get(x);
    }
    let form: AttentionMatch['form'] = 'unscaled';
    if (p?.opType === 'Div' && dataIndependent(p.input[1])) {
      scales.push(scaleOf(p.input[1], true));
      nodes.push(p);
      form = 'post-scale';
      p = index.producer.get(p.input[0]);
    } else if (p?.opType === 'Mul' && splitMul(p)) {
      const [data, s] = splitMul(p)!;
      scales.push(scaleOf(s, false));
      nodes.push(p);
      form = 'post-scale';
      p = index.producer.get(data);
    }
    if (p?.opType !== 'MatMul') continue;
    const scores = p;
    nodes.push(scores);
    let q = scores.input[0];
    let kT = scores.input[1];
    const qMul = splitMul(index.producer.get(q));
    if (qMul) {
      nodes.push(index.producer.get(q)!);
      scales.push(scaleOf(qMul[1], false));
      q = qMul[0];
      if (form === 'unscaled') form = 'pre-scale';
    }
    const kMul = splitMul(index.producer.get(kT));
    if (kMul) {
      nodes.push(index.producer.get(kT)!);
      scales.push(scaleOf(kMul[1], false));
      kT = kMul[0];
      if (form === 'unscaled') form = 'pre-scale';
    }
    let k: string | null = null;
    const transpose = index.producer.get(kT);
    if (transpose?.opType === 'Transpose' && attrInts(transpose, 'perm')?.join(',') === '0,1,3,2') {
      nodes.push(transpose);
      k = transpose.input[0];
      const inner = splitMul(index.producer.get(k));
      if (inner) {
        nodes.push(index.producer.get(k)!);
        scales.push(scaleOf(inner[1], false));
        k = inner[0];
        if (form === 'unscaled') form = 'pre-scale';
      }
    }
    const axis = attrInt(softmax, 'axis', opset >= 13 ? -1 : 1);
    if (!blocker && axis !== -1 && axis !== 3) blocker = `${nodeLabel(softmax)} normalises axis ${axis}, not the last one`;
    unfused.push({ softmax, scores, output, form, q, k, kT, v: output.input[1], scales, nodes, blocker });
  }
  return { fused, fusedCount: Object.values(fused).reduce((a, b) => a + b, 0), unfused };
}

/** Values a probe run must return for `fuseAttention`: q and v of each match, and dynamic scales. */
export function probeValues(matches: readonly AttentionMatch[]): string[] {
  const names = new Set<string>();
  for (const m of matches) {
    if (m.blocker) continue;
    names.add(m.q);
    names.add(m.v);
    for (const s of m.scales) if (s.kind === 'dynamic') names.add(s.name);
  }
  return [...names];
}

export interface ProbedValue {
  dims: readonly number[];
  data: ArrayLike<number>;
}

/**
 * Rewrites each fusable match to com.microsoft.MultiHeadAttention: q [B,H,S,d] → [B,S,H·d], key and
 * value stay [B,H,L,d], the output goes back to [B,H,S,d] under the original name.
 */
export function fuseAttention(model: OnnxModel, matches: readonly AttentionMatch[], probed: ReadonlyMap<string, ProbedValue>): { fused: number; skipped: string[] } {
  const g = model.graph;
  const index = new GraphIndex(g);
  const skipped: string[] = [];
  const replacements = new Map<NodeProto, NodeProto[]>();
  const removed: NodeProto[] = [];
  const int64 = (hint: string, values: number[]) => {
    const name = index.unique(hint);
    g.initializer.push(makeTensor(name, DataType.INT64, values));
    return name;
  };
  for (const m of matches) {
    const where = nodeLabel(m.softmax);
    if (m.blocker) {
      skipped.push(`${where}: ${m.blocker}`);
      continue;
    }
    const q = probed.get(m.q);
    const v = probed.get(m.v);
    if (!q || !v || q.dims.length !== 4 || v.dims.length !== 4) {
      skipped.push(`${where}: q/v are not rank-4 [batch, heads, tokens, head_dim] (q [${q?.dims.join(',') ?? '?'}])`);
      continue;
    }
    const [, heads, , headDim] = q.dims;
    const vHeadDim = v.dims[3];
    if (v.dims[1] !== heads) {
      skipped.push(`${where}: q has ${heads} heads, v has ${v.dims[1]}`);
      continue;
    }
    let scale = 1;
    let unknown = false;
    for (const s of m.scales) {
      const value = s.kind === 'constant' ? s.value : probed.get(s.name)?.data.length === 1 ? Number(probed.get(s.name)!.data[0]) : NaN;
      if (!Number.isFinite(value) || value === 0) unknown = true;
      scale *= s.invert ? 1 / value : value;
    }
    if (unknown) {
      skipped.push(`${where}: a scale factor is not a single number`);
      continue;
    }
    const base = index.unique(`dype/mha.${m.output.output[0]}`);
    const qBsd = index.unique(`${base}.q_bsd`);
    const qFlat = index.unique(`${base}.q`);
    const nodes: NodeProto[] = [
      makeNode('Transpose', [m.q], [qBsd], { perm: [0, 2, 1, 3] }),
      makeNode('Reshape', [qBsd, int64(`${base}.q_shape`, [0, 0, heads * headDim])], [qFlat]),
    ];
    let key = m.k;
    if (!key) {
      key = index.unique(`${base}.k`);
      nodes.push(makeNode('Transpose', [m.kT], [key], { perm: [0, 1, 3, 2] }));
    }
    const attn = index.unique(`${base}.out`);
    const split = index.unique(`${base}.out_heads`);
    nodes.push(
      makeNode('MultiHeadAttention', [qFlat, key, m.v], [attn], { num_heads: heads, scale: { f: scale } }, { domain: MS_DOMAIN }),
      makeNode('Reshape', [attn, int64(`${base}.out_shape`, [0, 0, heads, vHeadDim])], [split]),
      makeNode('Transpose', [split], [m.output.output[0]], { perm: [0, 2, 1, 3] }),
    );
    replacements.set(m.output, nodes);
    removed.push(...m.nodes.filter((n) => n !== m.output));
  }
  if (replacements.size) {
    g.node = g.node.flatMap((node) => replacements.get(node) ?? [node]);
    ensureOpset(model.proto, MS_DOMAIN, 1);
    pruneDead(g, removed);
  }
  return { fused: replacements.size, skipped };
}
