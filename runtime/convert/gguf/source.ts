/**
 * A WeightSource over GGUF files. Every tensor is read once, while the graph is built, and written
 * to the model folder's one weights file (../packed-weights.ts):
 * - quantized Linear weights as MatMulNBits blocks (./repack.ts), never widened to float;
 * - float tensors (F32, F16, BF16: biases, norms, the layers GGUF files leave unquantized) with
 *   their bytes as stored, behind one Cast where the graph computes in another type;
 * - a quantized tensor that is not a Linear weight (T5's token embedding, gathered by row) as
 *   float16, widened after the gather.
 */
import { Float16Array } from '@petamoriken/float16';
import { readRange } from '../../files/range.ts';
import { ONNX_DTYPE, type ElemType, type GraphBuilder } from '../../onnx/builder.ts';
import type { PackedWeightsFile } from '../packed-weights.ts';
import type { StoredTensor } from '../safetensors.ts';
import type { ComputeType } from '../source.ts';
import { MissingTensorError, type PackedLinear, type WeightSource } from '../weights.ts';
import type { GgufHeader, GgufTensor } from './read.ts';
import { dequantizeBlocks, packNBits, unpackGguf } from './repack.ts';
import { FLOAT_TYPES, type GgmlType, type QuantizedType } from './types.ts';

const FLOAT_ELEM: Readonly<Partial<Record<GgmlType, ElemType>>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** How many tensors of each GGML type the graph reads, and the bytes they hold in the weights file. */
export type GgufCounts = Partial<Record<GgmlType, { tensors: number; bytes: number; packedBytes: number }>>;

export interface GgufSourceOptions {
  /** Only keys under this prefix, without it. */
  prefix?: string;
  compute?: ComputeType;
  /** MatMulNBits accuracy_level for every block (default: by width, accuracyLevelFor). */
  accuracyLevel?: number;
}

export class GgufWeightSource implements WeightSource {
  private readonly tensors = new Map<string, GgufTensor>();
  private readonly values = new Map<string, string>();
  private readonly packed = new Map<string, PackedLinear>();
  readonly counts: GgufCounts = {};
  private readonly compute: ComputeType;
  private readonly accuracyLevel: number | undefined;

  constructor(
    private readonly builder: GraphBuilder,
    headers: readonly GgufHeader[],
    readonly origin: string,
    private readonly out: PackedWeightsFile | null,
    options: GgufSourceOptions = {},
  ) {
    const prefix = options.prefix ?? '';
    this.compute = options.compute ?? 'float32';
    this.accuracyLevel = options.accuracyLevel;
    for (const header of headers) {
      for (const [stored, tensor] of header.tensors) {
        if (!stored.startsWith(prefix)) continue;
        const key = stored.slice(prefix.length);
        if (this.tensors.has(key)) throw new Error(`${origin}: tensor ${key} is in both ${this.tensors.get(key)!.file} and ${tensor.file}`);
        this.tensors.set(key, tensor);
      }
    }
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  private entry(key: string): GgufTensor {
    const hit = this.tensors.get(key);
    if (!hit) throw new MissingTensorError(this.origin, key);
    return hit;
  }

  /** The GGML type `key` is stored in. */
  typeOf(key: string): GgmlType {
    return this.entry(key).type;
  }

  tensor(key: string): StoredTensor {
    const t = this.entry(key);
    const dtype = t.type === 'F32' ? 'F32' : t.type === 'F16' ? 'F16' : t.type === 'BF16' ? 'BF16' : null;
    if (!dtype) throw new Error(`${this.origin}: tensor ${key} is ${t.type} blocks, not a plain tensor`);
    return { key, dtype, shape: t.shape, file: t.file, byteOffset: t.byteOffset, byteLength: t.byteLength };
  }

  shape(key: string): readonly number[] {
    return this.entry(key).shape;
  }

  keys(prefix = ''): string[] {
    return [...this.tensors.keys()].filter((k) => k.startsWith(prefix));
  }

  private writer(): PackedWeightsFile {
    if (!this.out) throw new Error(`${this.origin}: this weight source reads shapes only`);
    return this.out;
  }

  private count(t: GgufTensor, packedBytes: number): void {
    const c = (this.counts[t.type] ??= { tensors: 0, bytes: 0, packedBytes: 0 });
    c.tensors++;
    c.bytes += t.byteLength;
    c.packedBytes += packedBytes;
  }

  packedLinear(key: string): PackedLinear | null {
    const t = this.entry(key);
    if (FLOAT_TYPES.has(t.type) || t.shape.length !== 2) return null;
    const cached = this.packed.get(key);
    if (cached) return cached;
    const [n, k] = t.shape;
    const blocks = packNBits(unpackGguf(t.type as QuantizedType, readRange(t.file, t.byteOffset, t.byteLength, t.stored), n, k));
    const before = this.writer().bytes;
    const linear = this.writer().linear(this.builder, key, blocks, this.accuracyLevel);
    this.count(t, this.writer().bytes - before);
    this.packed.set(key, linear);
    return linear;
  }

  value(key: string): string {
    const cached = this.values.get(key);
    if (cached) return cached;
    const t = this.entry(key);
    const b = this.builder;
    const out = this.writer();
    const before = out.bytes;
    let stored: ElemType;
    let raw: string;
    const float = FLOAT_ELEM[t.type];
    if (float) {
      stored = float;
      raw = out.initializer(b, key, float, t.shape, readRange(t.file, t.byteOffset, t.byteLength, t.stored));
    } else {
      // A quantized tensor used whole (not through MatMulNBits): float16 values.
      stored = 'float16';
      raw = out.initializer(b, key, 'float16', t.shape, new Uint8Array(this.dequantized(t).buffer));
    }
    this.count(t, out.bytes - before);
    const value = stored === this.compute ? raw : b.op('Cast', [raw], { to: ONNX_DTYPE[this.compute] }, { outputs: [`${key}:${this.compute}`] });
    this.values.set(key, value);
    return value;
  }

  /** A quantized table is gathered in float16 and widened after the gather (no float32 copy of the whole table). */
  gatherRows(key: string, indices: string): string {
    const t = this.entry(key);
    const b = this.builder;
    if (FLOAT_TYPES.has(t.type)) return b.op('Gather', [this.value(key), indices], { axis: 0 }, { name: 'embeddings' });
    const out = this.writer();
    const before = out.bytes;
    const table = out.initializer(b, key, 'float16', t.shape, new Uint8Array(this.dequantized(t).buffer));
    this.count(t, out.bytes - before);
    const rows = b.op('Gather', [table, indices], { axis: 0 }, { name: 'embeddings' });
    return b.op('Cast', [rows], { to: ONNX_DTYPE[this.compute] });
  }

  private dequantized(t: GgufTensor): Float16Array {
    const [rows, cols] = t.shape.length === 2 ? t.shape : [1, t.shape.reduce((a, c) => a * c, 1)];
    const values = dequantizeBlocks(unpackGguf(t.type as QuantizedType, readRange(t.file, t.byteOffset, t.byteLength, t.stored), rows, cols));
    return new Float16Array(values);
  }
}
