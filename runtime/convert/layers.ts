/**
 * Layers over checkpoint weights, shared by the converted graphs. Activations are 2-D [tokens,
 * features] where a layer allows it (batch 1 throughout), so a PyTorch Linear's [out, in] weight is
 * used as stored by Gemm with transB: no transposed copy of any weight is ever made.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import type { WeightSource } from './weights.ts';

/** sqrt(2/π), for GELU's tanh approximation. */
const GELU_C = 0.7978845608028654;

export class Layers {
  constructor(
    readonly b: GraphBuilder,
    readonly w: WeightSource,
  ) {}

  /** x[N, in] · W[out, in]ᵀ + b (the bias when the checkpoint has `<name>.bias`). */
  linear(x: string, name: string): string {
    const inputs = [x, this.w.value(`${name}.weight`)];
    if (this.w.has(`${name}.bias`)) inputs.push(this.w.value(`${name}.bias`));
    return this.b.op('Gemm', inputs, { transB: 1 }, { name });
  }

  /** `count` equal parts along `axis` (torch.chunk). */
  chunk(x: string, count: number, axis: number): string[] {
    return this.b.opN('Split', [x], count, { axis, num_outputs: count }, { name: 'chunk' });
  }

  silu(x: string): string {
    return this.b.op('Mul', [x, this.b.op('Sigmoid', [x])], {}, { name: 'silu' });
  }

  /** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): GELU(approximate='tanh'), in ops every opset has. */
  geluTanh(x: string): string {
    const b = this.b;
    const x3 = b.op('Mul', [b.op('Mul', [x, x]), x]);
    const inner = b.op('Mul', [b.op('Add', [x, b.op('Mul', [x3, b.constF(0.044715)])]), b.constF(GELU_C)]);
    return b.op('Mul', [b.op('Mul', [x, b.constF(0.5)]), b.op('Add', [b.op('Tanh', [inner]), b.constF(1)])], {}, { name: 'gelu' });
  }

  /** LayerNorm over the last axis without affine parameters (elementwise_affine=False). */
  layerNorm(x: string, dim: number, eps = 1e-6): string {
    const ones = this.b.constF(new Array<number>(dim).fill(1));
    return this.b.op('LayerNormalization', [x, ones], { axis: -1, epsilon: { f: eps } }, { name: 'ln' });
  }

  /** x · rsqrt(mean(x², last axis) + eps) · scale, with `scale` a checkpoint key. */
  rmsNorm(x: string, scaleKey: string, eps = 1e-6): string {
    const b = this.b;
    const ms = b.op('ReduceMean', [b.op('Mul', [x, x]), b.constI64([-1])], { keepdims: 1 });
    const inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [ms, b.constF(eps)])])]);
    return b.op('Mul', [b.op('Mul', [x, inv]), this.w.value(scaleKey)], {}, { name: 'rms' });
  }
}

/**
 * Opset and IR version of every converted graph: opset 19 has Cast from float8 and ReduceMean with
 * axes as an input; IR 9 has the float8 types.
 */
export const CONVERTED_OPSET = 19;
export const CONVERTED_IR_VERSION = 9;
