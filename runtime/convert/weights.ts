/**
 * The seam between checkpoint files and graph builders. A builder asks for tensors by their checkpoint
 * key and gets the name of a graph value holding them in the graph's compute type; where the bytes
 * live (external data inside the original safetensors file), and which Cast or DequantizeLinear turns
 * the stored type into the compute type, is the weight source's business, decided once per tensor.
 */
import type { StoredTensor } from './safetensors.js';

export interface WeightSource {
  /** A short description of where the weights come from, for error messages (e.g. the file name). */
  readonly origin: string;
  has(key: string): boolean;
  /** The stored tensor; throws an error naming the origin and the missing key. */
  tensor(key: string): StoredTensor;
  shape(key: string): readonly number[];
  /** Keys that start with `prefix` (to count blocks, find optional parts). */
  keys(prefix?: string): string[];
  /** Name of the graph value holding `key` in compute type; repeated calls return the same value. */
  value(key: string): string;
  /**
   * A Linear weight the source keeps in blocks (GGUF, `--quantize`): the MatMulNBits inputs to
   * multiply by, or null where the weight is a plain tensor (then `value` gives it).
   */
  packedLinear?(key: string): PackedLinear | null;
  /** Rows of the table `key` at int64 `indices`, in compute type (an embedding kept in a narrower type is widened after the gather). */
  gatherRows?(key: string, indices: string): string;
}

/** com.microsoft.MatMulNBits' weight inputs for one Linear weight [n, k] (graph value names). */
export interface PackedLinear {
  n: number;
  k: number;
  bits: 2 | 4 | 8;
  block: number;
  /** 4: int8 activations on CPU (faster for 8 bits, ~0.4% error per product); 1: float32 activations (gguf/types.ts accuracyLevelFor). */
  accuracyLevel: number;
  b: string;
  scales: string;
  /** Float zero points (2/4-bit); none: the width's default. */
  zeros?: string;
  /** Per-block values added to every weight of the block [n, k / block]: a second, small product. */
  offsets?: string;
}

export class MissingTensorError extends Error {
  constructor(readonly origin: string, readonly key: string, detail = '') {
    super(`${origin}: tensor ${key} is missing${detail ? ` (${detail})` : ''}; the checkpoint is incomplete or not the expected model`);
    this.name = 'MissingTensorError';
  }
}
