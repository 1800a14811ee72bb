/**
 * The pieces every FLUX-style DiT graph shares (FLUX.1 in flux.ts, FLUX.2 in flux2.ts), following
 * BFL's layers: RoPE from ids and DyPE's ω/mscale, per-head RMSNorm of q and k, pairwise rotation,
 * fused attention over the joint text+image sequence, adaLN modulation, gated residuals and the
 * sinusoidal timestep embedding. Rows are tokens ([S, hidden]); the batch of one is added only
 * around MultiHeadAttention and at the graph's edges.
 */
import { ONNX_DTYPE, type GraphBuilder } from '../onnx/builder.ts';
import { rmsNormalize } from '../onnx/ops.ts';

/** Per rotary frequency, the id column (axis) it reads: axis a contributes axesDim[a]/2. */
export function ropeAxisIndex(axesDim: readonly number[]): number[] {
  return axesDim.flatMap((d, a) => new Array<number>(d / 2).fill(a));
}

/** exp(−ln(10000)·i/half) as torch computes it in float32 (BFL timestep_embedding). */
export function timestepFrequencies(half: number): number[] {
  const negLog = Math.fround(-Math.log(10000));
  return Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround(Math.fround(negLog * i) / half))));
}

export interface DitShape {
  readonly hidden: number;
  readonly heads: number;
  readonly headDim: number;
}

export type DitLayers = ReturnType<typeof ditLayers>;

/** float16's largest finite value: the residual stream is clamped to it, as ComfyUI does for FLUX in fp16. */
const HALF_MAX = 65504;

export interface DitPrecision {
  /**
   * Compute the blocks in float16 (the caller builds under `b.withFloat('float16')`), with float32
   * where float16 loses the value: RoPE angles and the timestep sinusoid (arguments up to ~1000 rad,
   * where float16's step is 0.5) and the q/k RMSNorm statistics (x² overflows past |x| = 256).
   * LayerNorm keeps float32 statistics by itself (stash_type), MultiHeadAttention's softmax
   * accumulates in float32, and the residual stream is clamped to ±65504 after each gated add so an
   * overflow saturates instead of turning into inf/NaN.
   */
  half?: boolean;
}

/**
 * The transformer's compute type. `float16` (for CUDA, DirectML, CoreML and WebGPU with shader-f16)
 * keeps the graph's inputs and output float32 and computes the blocks in float16 (see DitPrecision).
 */
export interface DitGraphOptions {
  precision?: 'float32' | 'float16';
}

/** Runs a transformer graph's `build` under its compute type, telling it whether that is float16. */
export function inPrecision(b: GraphBuilder, options: DitGraphOptions, build: (half: boolean) => void): void {
  const half = options.precision === 'float16';
  b.withFloat(half ? 'float16' : 'float32', () => build(half));
}

/** The shared layers of one transformer graph, bound to its builder and widths. */
export function ditLayers(b: GraphBuilder, shape: DitShape, { half = false }: DitPrecision = {}) {
  const { hidden: D, heads: H, headDim } = shape;
  /** A float32 value in the compute type, and back. */
  const toCompute = (x: string) => (half ? b.op('Cast', [x], { to: ONNX_DTYPE.float16 }, { name: 'to_half' }) : x);
  const toFloat32 = (x: string) => (half ? b.op('Cast', [x], { to: ONNX_DTYPE.float32 }, { name: 'to_float' }) : x);
  const inFloat32 = <R>(fn: () => R) => b.withFloat('float32', fn);
  const F = headDim / 2;
  const ones = b.constF(new Array<number>(D).fill(1));
  const to2d = (x: string, width: number) => b.op('Reshape', [x, b.constI64([-1, width])]);
  const to3d = (x: string) => b.op('Unsqueeze', [x, b.constI64([0])]);
  const chunk = (x: string, count: number, axis: number) => b.opN('Split', [x], count, { axis }, { name: 'chunk' });
  const layerNorm = (x: string) => b.op('LayerNormalization', [x, ones], { axis: -1, epsilon: { f: 1e-6 } }, { name: 'ln' });
  /** RMSNorm with the scale value `weight`, its statistics in float32 (x² overflows float16 past |x| = 256). */
  const rmsNorm = (x: string, weight: string, eps: number) => {
    const normed = toCompute(inFloat32(() => rmsNormalize(b, toFloat32(x), eps)));
    return b.op('Mul', [normed, weight], {}, { name: 'rms_norm' });
  };
  const residual = (x: string, y: string) => {
    const sum = b.op('Add', [x, y], {}, { name: 'residual' });
    return half ? b.op('Clip', [sum, b.constF(-HALF_MAX), b.constF(HALF_MAX)], {}, { name: 'residual_clamped' }) : sum;
  };
  return {
    toCompute,
    toFloat32,
    to2d,
    to3d,
    chunk,
    layerNorm,
    /**
     * cos/sin [S, 1, F, 1] of the joint sequence's ids [S, axes] (text first), each axis's columns
     * at DyPE's ω, scaled by its mscale as DyPE's YaRN asks.
     */
    rope(ids: string, axesDim: readonly number[], omega: string, mscale: string): [string, string] {
      return b.scope('rope', () => {
        const positions = b.op('Gather', [ids, b.constI64(ropeAxisIndex(axesDim))], { axis: 1 }, { name: 'positions' }); // [S, F]
        const angles = b.op('Mul', [positions, omega], {}, { name: 'angles' });
        const shaped = (x: string) => toCompute(b.op('Unsqueeze', [b.op('Mul', [x, mscale]), b.constI64([1, 3])]));
        return [shaped(b.op('Cos', [angles])), shaped(b.op('Sin', [angles]))];
      });
    },
    /** [S, D] → per-head RMSNorm with the scale value `norm` → [S, H, hd] (eps: BFL's 1e-6; Z-Image's is 1e-5). */
    headNorm(x: string, norm: string, eps = 1e-6): string {
      return b.scope('qk_norm', () => rmsNorm(b.op('Reshape', [x, b.constI64([0, H, headDim])]), norm, eps));
    },
    /** [S, H, hd] of the joint sequence, rotated pair by pair → [S, D] (BFL apply_rope). */
    applyRope(x: string, cos: string, sin: string): string {
      return b.scope('rope', () => {
        const [x0, x1] = chunk(b.op('Reshape', [x, b.constI64([0, H, F, 2])]), 2, -1);
        const r0 = b.op('Sub', [b.op('Mul', [x0, cos]), b.op('Mul', [x1, sin])]);
        const r1 = b.op('Add', [b.op('Mul', [x0, sin]), b.op('Mul', [x1, cos])]);
        return b.op('Reshape', [b.op('Concat', [r0, r1], { axis: -1 }), b.constI64([0, D])], {}, { name: 'roped' });
      });
    },
    /**
     * Fused attention over [S, D] q (roped), k (roped), v → [S, D]: com.microsoft.MultiHeadAttention,
     * so the S² score matrix of a 4096² image never exists in the graph.
     */
    attention(q: string, k: string, v: string): string {
      return b.scope('attention', () => {
        const out = b.op('MultiHeadAttention', [to3d(q), to3d(k), to3d(v)], { num_heads: H }, { name: 'mha', domain: 'com.microsoft' });
        return to2d(out, D);
      });
    },
    /** (1 + scale)·LayerNorm(x) + shift. */
    modulate(x: string, shift: string, scale: string): string {
      return b.op('Add', [b.op('Mul', [layerNorm(x), b.op('Add', [scale, b.constF(1)])]), shift], {}, { name: 'modulated' });
    },
    /** x + y on the residual stream (clamped in float16). */
    residual,
    /** x + gate·y. */
    gated: (x: string, gate: string, y: string): string => residual(x, b.op('Mul', [gate, y])),
    rmsNorm,
    /** BFL timestep_embedding of a [1] value: cos ‖ sin of (1000·x)·freqs → [1, width]. */
    sinusoid(x: string, width: number): string {
      return inFloat32(() => {
        const args = b.op('Mul', [b.op('Unsqueeze', [b.op('Mul', [x, b.constF(1000)]), b.constI64([1])]), b.constF(timestepFrequencies(width / 2))]); // [1, width/2]
        return toCompute(b.op('Concat', [b.op('Cos', [args]), b.op('Sin', [args])], { axis: 1 }));
      });
    },
    /** [text_len, image_len] of the joint sequence, to split it back (Split sizes). */
    splitSizes(context: string, hiddenStates: string): string {
      const textLen = b.op('Shape', [context], { start: 1, end: 2 }, { name: 'text_len' });
      const imageLen = b.op('Shape', [hiddenStates], { start: 1, end: 2 }, { name: 'image_len' });
      return b.op('Concat', [textLen, imageLen], { axis: 0 }, { name: 'split_sizes' });
    },
  };
}
