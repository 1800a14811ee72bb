/**
 * What a FLUX transformer graph needs before DyPE can drive it: how it takes positions (RoPE in the
 * graph, already rope_omega/rope_mscale, or cos/sin tables), its attention (fused or not), its
 * element type and whether it has a guidance input. Reads the protobuf only.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatBytes } from '../files/place.ts';
import { findAttention, type AttentionMatch } from './attention.ts';
import { OnnxError } from '../onnx/errors.ts';
import { ImportError } from './errors.ts';
import { readJsonObject } from './files.ts';
import { GraphIndex, externalLocations, opsetVersion, readModel, type OnnxModel } from '../onnx/graph.ts';
import { DataType, dtypeName, elemType, valueShape } from '../onnx/proto.ts';
import { ropeStatus, type RopePattern } from './rope.ts';

/** What the memory advice assumes: a 4096² px FLUX image (16 px per token) and dev's 512 text tokens. */
export interface AnalysisContext {
  /** Attention heads (default: transformer config.json beside the model, if any). */
  heads?: number | null;
  /** Image side the advice is about (default 4096). */
  side?: number;
  pixelsPerToken?: number;
  textTokens?: number;
}

const FLUX_CONTEXT = { side: 4096, pixelsPerToken: 16, textTokens: 512 };

export interface IoInfo {
  name: string;
  dtype: string;
  shape: (number | string)[] | null;
}

export interface RopeAnalysis {
  status: 'in-graph' | 'dype-inputs' | 'tables' | 'not-found' | 'ambiguous';
  axesDim?: number[];
  theta?: number;
  axes?: { axis: number; frequencies: number; form: string; constant: string; constantDtype: string; product: string; interleave: string }[];
  /** Sin/Cos nodes that are not RoPE (timestep/guidance sinusoids), left alone. */
  untouched?: string[];
  /** The detection error (names the candidate nodes) when not found or ambiguous. */
  error?: string;
}

export interface AttentionAnalysis {
  fused: Record<string, number>;
  fusedCount: number;
  unfusedCount: number;
  /** Unfused attentions `--fuse-attention` can rewrite. */
  fusableCount: number;
  unfused: { softmax: string; form: AttentionMatch['form']; blocker?: string }[];
  advice: string[];
}

export interface TransformerAnalysis {
  path: string;
  producer: string;
  opset: number;
  nodes: number;
  /** Element type of hidden_states (the graph's precision at its boundary). */
  dtype: string;
  inputs: IoInfo[];
  outputs: IoInfo[];
  /** Inputs/outputs in bfloat16, which onnxruntime-node cannot feed (wrapped on import). */
  bfloat16Io: string[];
  guidance: boolean;
  rope: RopeAnalysis;
  attention: AttentionAnalysis;
  externalData: string[];
  /** Attention heads, where the caller or a config.json beside the model says (analyzeTransformer). */
  heads?: number | null;
}

export function attentionAdvice(unfused: number, fused: number, dtype: string, context: AnalysisContext = {}): string[] {
  const { side, pixelsPerToken, textTokens } = { ...FLUX_CONTEXT, ...context };
  if (unfused === 0) {
    return fused > 0 ? [`attention is fused: no S×S score matrix is materialised; memory at ${side}² px is dominated by weights and activations`] : [];
  }
  const tokens = Math.ceil(side / pixelsPerToken) ** 2 + textTokens;
  const bytes = dtype === 'float32' ? 4 : dtype === 'float64' ? 8 : 2;
  const perHead = tokens ** 2 * bytes;
  const heads = context.heads ?? null;
  const total = heads ? `, ${formatBytes(perHead * heads)} for all ${heads} heads` : '';
  return [
    `${unfused} attention block(s) are unfused (MatMul → Softmax → MatMul): at ${side}² px (S = ${tokens} tokens) each materialises ` +
      `a ${dtype} score matrix of ${formatBytes(perHead)} per head${total}` +
      (perHead * (heads ?? 1) > 2 ** 30 ? ', far more than fused attention needs.' : '; fine at this size, but it grows with the square of the token count.'),
    'Export the transformer with fused attention for your execution provider (com.microsoft.MultiHeadAttention for CPU/CUDA/DirectML, ' +
      "e.g. through onnxruntime's transformer optimizer or Olive), or run `dype import --fuse-attention`, which rewrites them and checks the result.",
  ];
}

function ioInfo(list: readonly { name: string }[], index: GraphIndex, source: 'inputs' | 'outputs'): IoInfo[] {
  return list
    .filter((v) => source === 'outputs' || !index.initializers.has(v.name))
    .map((v) => {
      const info = (source === 'inputs' ? index.inputs : index.outputs).get(v.name);
      return { name: v.name, dtype: dtypeName(elemType(info)), shape: valueShape(info) };
    });
}

/** Analysis of an already-read model (the import uses the same code as `analyzeTransformer`). */
export function analyzeModel(model: OnnxModel, context: AnalysisContext = {}): TransformerAnalysis {
  const index = new GraphIndex(model.graph);
  const inputs = ioInfo(model.graph.input, index, 'inputs');
  const outputs = ioInfo(model.graph.output, index, 'outputs');
  const hidden = inputs.find((i) => i.name === 'hidden_states') ?? inputs[0];

  let rope: RopeAnalysis;
  try {
    const status = ropeStatus(index, model.dir);
    rope = status.kind === 'in-graph' ? describePattern(status.pattern) : { status: status.kind };
  } catch (error) {
    if (!(error instanceof ImportError || error instanceof OnnxError)) throw error; // OnnxError: an unreadable constant
    rope = { status: error instanceof ImportError && error.code === 'rope_ambiguous' ? 'ambiguous' : 'not-found', error: error.message };
  }

  const opset = opsetVersion(model.proto);
  const found = findAttention(index, model.dir, opset);
  const unfused = found.unfused.map((m) => ({ softmax: m.softmax.name || m.softmax.output[0], form: m.form, ...(m.blocker ? { blocker: m.blocker } : {}) }));
  return {
    path: model.path,
    producer: [model.proto.producerName, model.proto.producerVersion].filter(Boolean).join(' '),
    opset,
    nodes: model.graph.node.length,
    dtype: hidden?.dtype ?? 'unknown',
    inputs,
    outputs,
    bfloat16Io: [...inputs, ...outputs].filter((i) => i.dtype === dtypeName(DataType.BFLOAT16)).map((i) => i.name),
    guidance: index.inputs.has('guidance'),
    rope,
    attention: {
      fused: found.fused,
      fusedCount: found.fusedCount,
      unfusedCount: found.unfused.length,
      fusableCount: found.unfused.filter((m) => !m.blocker).length,
      unfused,
      advice: attentionAdvice(found.unfused.length, found.fusedCount, hidden?.dtype ?? 'float32', context),
    },
    externalData: externalLocations(model.graph),
  };
}

export function describePattern(p: RopePattern): RopeAnalysis {
  return {
    status: 'in-graph',
    axesDim: p.axesDim,
    theta: p.theta,
    axes: p.axes.map((a) => ({
      axis: a.axis,
      frequencies: a.frequencies,
      form: { einsum: 'Einsum', mul: 'Unsqueeze·Mul', matmul: 'MatMul' }[a.form],
      constant: a.constant,
      constantDtype: dtypeName(a.constantDtype),
      product: a.product.name || a.product.output[0],
      interleave: a.interleave,
    })),
    untouched: p.untouched,
  };
}

/**
 * Reads `path` (an ONNX transformer; weights stay in their external files) and reports what
 * `dype import` would find. `context` sets what the 4K memory advice assumes (FLUX by default;
 * pass a bundle's pixelsPerToken and text length for other models).
 */
export function analyzeTransformer(path: string, context: AnalysisContext = {}): TransformerAnalysis {
  const model = readModel(path);
  let heads = context.heads;
  if (heads === undefined) {
    const configPath = join(model.dir, 'config.json');
    const config = existsSync(configPath) ? readJsonObject(configPath) : null;
    heads = config && typeof config.num_attention_heads === 'number' ? config.num_attention_heads : null;
  }
  return { ...analyzeModel(model, { ...context, heads }), heads };
}

/** Human-readable lines for `dype info` / `dype import`. */
export function formatAnalysis(a: TransformerAnalysis): string[] {
  const lines = [`transformer  ${a.path} (${a.nodes} nodes, opset ${a.opset}${a.producer ? `, ${a.producer}` : ''})`];
  lines.push(`dtype        ${a.dtype}${a.bfloat16Io.length ? ` (bfloat16 I/O: ${a.bfloat16Io.join(', ')}; wrapped with Casts on import)` : ''}`);
  lines.push(`guidance     ${a.guidance ? 'input present (dev-style)' : 'no input (schnell-style)'}`);
  const r = a.rope;
  switch (r.status) {
    case 'in-graph':
      lines.push(`rope         computed in the graph from img_ids/txt_ids: axes ${r.axesDim!.join('/')}, θ ${r.theta} — \`dype import\` turns it into rope_omega/rope_mscale inputs`);
      for (const axis of r.axes!) {
        lines.push(`               axis ${axis.axis}: ${axis.frequencies} ${axis.constantDtype} frequencies (${axis.constant}) via ${axis.form} ${axis.product}, interleave ${axis.interleave}`);
      }
      if (r.untouched?.length) lines.push(`               left alone (not fed by the ids): ${r.untouched.join(', ')}`);
      break;
    case 'dype-inputs':
      lines.push('rope         DyPE-ready: takes rope_omega + rope_mscale');
      break;
    case 'tables':
      lines.push('rope         takes rope_cos + rope_sin tables');
      break;
    default:
      lines.push(`rope         ${r.status === 'ambiguous' ? 'AMBIGUOUS' : 'NOT FOUND'}: ${r.error}`);
  }
  const at = a.attention;
  const fused = Object.entries(at.fused).map(([op, n]) => `${n}× ${op}`).join(', ');
  lines.push(`attention    ${at.fusedCount} fused${fused ? ` (${fused})` : ''}, ${at.unfusedCount} unfused${at.unfusedCount ? ` (${at.fusableCount} rewritable by --fuse-attention)` : ''}`);
  for (const advice of at.advice) lines.push(`               ${advice}`);
  if (a.externalData.length) lines.push(`weights      external: ${a.externalData.join(', ')}`);
  return lines;
}
