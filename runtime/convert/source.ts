/**
 * The real WeightSource: tensors of one or more safetensors files become ONNX initializers stored as
 * external data at their offsets inside those files (the bundle hard-links the files beside the
 * model), so no weight byte is read or copied while converting.
 *
 * Stored types the graph does not compute in get one Cast each (bf16, fp16, fp8 → the compute type).
 * onnxruntime folds a Cast of an initializer into a new initializer when the session is created, so
 * the conversion happens once, at load, never per step, on every provider (CPU has no bf16 or fp8
 * kernels; other providers get the same graph). A DequantizeLinear would do the same for fp8 with a
 * scale of 1, but onnxruntime keeps DequantizeLinear nodes out of constant folding (they mark
 * quantised regions), so it would run at every step. Block-quantised weights (GGUF files,
 * `--quantize`) go through com.microsoft.MatMulNBits instead (./gguf/source.ts, ./quantize.ts).
 * Checkpoints with per-tensor fp8 scales get the scale multiplied after the Cast, folded the same
 * way: `<name>.scale_weight` (ComfyUI's "scaled fp8") or `<name>.weight_scale` (its "fp8mixed", where
 * `<name>.input_scale` and `<name>.comfy_quant` ride along and are not read).
 */
import { ONNX_DTYPE, type ElemType, type GraphBuilder } from '../onnx/builder.ts';
import type { SafetensorsDtype, SafetensorsHeader, StoredTensor } from './safetensors.ts';
import { MissingTensorError, type WeightSource } from './weights.ts';

/** What the graph computes in. */
export type ComputeType = 'float32' | 'float16';

/** ONNX element type of each safetensors dtype a weight may have. */
export const STORED_ELEM_TYPE: Readonly<Partial<Record<SafetensorsDtype, ElemType>>> = Object.freeze({
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F8_E4M3: 'float8e4m3fn',
});

/**
 * One checkpoint file and where the model finds it, relative to the model's folder. With `prefix`,
 * only keys under it are seen, without it (a component inside an all-in-one file).
 */
export interface SourceFile {
  header: SafetensorsHeader;
  location: string;
  prefix?: string;
}

/** How many tensors of each stored dtype the graph reads, and how many of them needed a Cast / an fp8 scale. */
export type ConversionCounts = Partial<Record<SafetensorsDtype, { tensors: number; bytes: number; cast: number; scaled: number }>>;

/** Where a weight's per-tensor fp8 scale lives, by format. */
const SCALE_SUFFIXES = ['.scale_weight', '.weight_scale'];

/** The per-tensor fp8 scale that goes with weight `key` in `w`, if the checkpoint has one. */
export function fp8ScaleKey(w: { has(key: string): boolean }, key: string): string | undefined {
  return key.endsWith('.weight') ? SCALE_SUFFIXES.map((suffix) => key.slice(0, -'.weight'.length) + suffix).find((k) => w.has(k)) : undefined;
}

export class SafetensorsWeightSource implements WeightSource {
  private readonly tensors = new Map<string, { tensor: StoredTensor; location: string }>();
  private readonly values = new Map<string, string>();
  readonly conversions: ConversionCounts = {};

  constructor(
    private readonly builder: GraphBuilder,
    files: readonly SourceFile[],
    readonly origin: string,
    readonly compute: ComputeType = 'float32',
  ) {
    for (const { header, location, prefix = '' } of files) {
      for (const [stored, tensor] of header.tensors) {
        if (!stored.startsWith(prefix)) continue;
        const key = stored.slice(prefix.length);
        const seen = this.tensors.get(key);
        if (seen) throw new Error(`${origin}: tensor ${key} is in both ${seen.tensor.file} and ${tensor.file}`);
        this.tensors.set(key, { tensor, location });
      }
    }
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  tensor(key: string): StoredTensor {
    const hit = this.tensors.get(key);
    if (!hit) throw new MissingTensorError(this.origin, key);
    return hit.tensor;
  }

  shape(key: string): readonly number[] {
    return this.tensor(key).shape;
  }

  keys(prefix = ''): string[] {
    return [...this.tensors.keys()].filter((k) => k.startsWith(prefix));
  }

  value(key: string): string {
    const cached = this.values.get(key);
    if (cached) return cached;
    const entry = this.tensors.get(key);
    if (!entry) throw new MissingTensorError(this.origin, key);
    const { tensor, location } = entry;
    const stored = STORED_ELEM_TYPE[tensor.dtype];
    if (!stored) throw new Error(`${this.origin}: tensor ${key} is ${tensor.dtype}; weights must be F32, F16, BF16 or F8_E4M3`);
    const b = this.builder;
    const raw = b.initExternal(key, stored, tensor.shape, { location, offset: tensor.byteOffset, length: tensor.byteLength });
    const count = (this.conversions[tensor.dtype] ??= { tensors: 0, bytes: 0, cast: 0, scaled: 0 });
    count.tensors++;
    count.bytes += tensor.byteLength;
    let out = raw;
    if (stored !== this.compute) {
      out = b.op('Cast', [raw], { to: ONNX_DTYPE[this.compute] }, { outputs: [`${key}:${this.compute}`] });
      count.cast++;
    }
    const scaleKey = fp8ScaleKey(this, key);
    if (scaleKey) {
      out = b.op('Mul', [out, this.value(scaleKey)], {}, { outputs: [`${key}:scaled`] });
      count.scaled++;
    }
    this.values.set(key, out);
    return out;
  }
}
