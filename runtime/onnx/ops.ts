/**
 * Activations and normalisations composed from plain ONNX ops (opset 17 has no Gelu or
 * RMSNormalization), shared by the demo graphs and the checkpoint converter.
 */
import type { GraphBuilder } from './builder.ts';

/** sqrt(2/π), for GELU's tanh approximation. */
const GELU_C = 0.7978845608028654;

/** x·σ(x) (SiLU, "swish"). */
export function silu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])], {}, { name: 'silu' });
}

/** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): GELU(approximate='tanh'), HF's gelu_new. */
export function geluTanh(g: GraphBuilder, x: string): string {
  const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
  const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [x3, g.constF(0.044715)])]), g.constF(GELU_C)]);
  const t = g.op('Add', [g.op('Tanh', [inner]), g.constF(1)]);
  return g.op('Mul', [g.op('Mul', [x, g.constF(0.5)]), t], {}, { name: 'gelu' });
}

/** x·σ(1.702·x): CLIP's quick_gelu. */
export function quickGelu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, g.constF(1.702)])])], {}, { name: 'quick_gelu' });
}

/** x / sqrt(mean(x²) + eps) over the last axis (RMSNorm and T5LayerNorm before their weight). */
export function rmsNormalize(g: GraphBuilder, x: string, eps: number): string {
  const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
  const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.constF(eps)])])]);
  return g.op('Mul', [x, inv]);
}
