/** Layer helpers for the demo graphs: a GraphBuilder plus seeded parameters. */
import { GraphBuilder, ONNX_DTYPE } from '../onnx/builder.ts';
import { normalTensor } from './prng.ts';

/** sqrt(2/π), for GELU's tanh approximation. */
const GELU_C = 0.7978845608028654;

export class Net {
  private readonly paramNames = new Set<string>();

  constructor(
    readonly b: GraphBuilder,
    readonly seed: number,
  ) {}

  /** A parameter mean + std·N(0,1), named (and seeded) by the current scope + `hint`. */
  param(hint: string, dims: readonly number[], std: number, mean = 0): string {
    const key = this.b.scopePrefix + hint;
    if (this.paramNames.has(key)) throw new Error(`duplicate parameter ${key}`);
    this.paramNames.add(key);
    const count = dims.reduce((a, c) => a * c, 1);
    return this.b.initFloat(hint, normalTensor(this.seed, `${this.b.name}/${key}`, count, std, mean), dims);
  }

  /** x @ W + b with W ~ N(0, gain²/in). */
  linear(x: string, inF: number, outF: number, hint: string, options: { gain?: number; biasStd?: number; bias?: boolean; out?: string } = {}): string {
    return this.b.scope(hint, () => {
      const w = this.param('weight', [inF, outF], (options.gain ?? 1) / Math.sqrt(inF));
      const y = this.b.op('MatMul', [x, w]);
      if (options.bias === false) return y;
      const bias = this.param('bias', [outF], options.biasStd ?? 0.02);
      return this.b.op('Add', [y, bias], {}, options.out ? { outputs: [options.out] } : {});
    });
  }

  silu(x: string): string {
    return this.b.op('Mul', [x, this.b.op('Sigmoid', [x])], {}, { name: 'silu' });
  }

  /** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) — GELU(approximate='tanh'). */
  geluTanh(x: string): string {
    const b = this.b;
    const x3 = b.op('Mul', [b.op('Mul', [x, x]), x]);
    const inner = b.op('Mul', [b.op('Add', [x, b.op('Mul', [x3, b.constF(0.044715)])]), b.constF(GELU_C)]);
    const t = b.op('Add', [b.op('Tanh', [inner]), b.constF(1)]);
    return b.op('Mul', [b.op('Mul', [x, b.constF(0.5)]), t], {}, { name: 'gelu' });
  }

  /** LayerNormalization over the last axis; affine parameters optional (ones/zeros otherwise). */
  layerNorm(x: string, dim: number, hint: string, affine = false, eps = 1e-6): string {
    return this.b.scope(hint, () => {
      const scale = affine ? this.param('weight', [dim], 0.1, 1) : this.b.constF(new Array<number>(dim).fill(1));
      const bias = affine ? this.param('bias', [dim], 0.05) : this.b.constF(new Array<number>(dim).fill(0));
      return this.b.op('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: { f: eps } }, { name: 'ln' });
    });
  }

  /** RMSNorm over the last axis with a learned weight (≈1). */
  rmsNorm(x: string, dim: number, hint: string, eps = 1e-6): string {
    const b = this.b;
    return b.scope(hint, () => {
      const ms = b.op('ReduceMean', [b.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
      const inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [ms, b.constF(eps)])])]);
      return b.op('Mul', [b.op('Mul', [x, inv]), this.param('weight', [dim], 0.1, 1)], {}, { name: 'rms' });
    });
  }

  cast(x: string, to: 'float32' | 'float16', out?: string): string {
    return this.b.op('Cast', [x], { to: ONNX_DTYPE[to] }, out ? { outputs: [out] } : { name: `${x}_${to}` });
  }
}
