/** Layer helpers for the demo graphs: a GraphBuilder plus seeded parameters. */
import { GraphBuilder, ONNX_DTYPE } from '../onnx/builder.ts';
import { geluTanh, rmsNormalize, silu } from '../onnx/ops.ts';
import { normalTensor } from './prng.ts';

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
    return silu(this.b, x);
  }

  /** GELU(approximate='tanh'). */
  geluTanh(x: string): string {
    return geluTanh(this.b, x);
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
    return b.scope(hint, () => b.op('Mul', [rmsNormalize(b, x, eps), this.param('weight', [dim], 0.1, 1)], {}, { name: 'rms' }));
  }

  cast(x: string, to: 'float32' | 'float16', out?: string): string {
    return this.b.op('Cast', [x], { to: ONNX_DTYPE[to] }, out ? { outputs: [out] } : { name: `${x}_${to}` });
  }
}
