/**
 * The one weights file of a model folder whose weights had to be rewritten (GGUF blocks repacked for
 * MatMulNBits, `--quantize`): tensors are appended, each 64-byte aligned, and the graph's
 * initializers point at them as external data. onnxruntime maps or reads them as they are: the
 * blocks stay blocks in memory, on every provider.
 */
import { closeSync, existsSync, openSync, statSync, writeSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { formatBytes } from '../files/place.ts';
import { readModel } from '../onnx/graph.ts';
import type { ElemType, ExternalLocation, GraphBuilder } from '../onnx/builder.ts';
import type { NBitsWeights } from './gguf/repack.ts';
import { accuracyLevelFor } from './gguf/types.ts';
import type { PackedLinear } from './weights.ts';

/** Its name inside the model folder. */
export const PACKED_WEIGHTS_FILE = 'weights.bin';
/** model.onnx metadata key naming what the weights file holds (GGUF block types, or `q8 (--quantize)`). */
export const QUANTIZATION_METADATA = 'dype.quantization';

/**
 * For `dype info`: what a converted model folder's weights file holds, from its model's metadata,
 * e.g. `transformer/weights.bin: Q4_K (+Q6_K) as MatMulNBits blocks (6.9 GB)`; null without one.
 */
export function describePackedWeights(modelPath: string, bundleDir: string): string | null {
  const file = join(dirname(modelPath), PACKED_WEIGHTS_FILE);
  if (!existsSync(file)) return null;
  const label = readModel(modelPath).proto.metadataProps.find((p) => p.key === QUANTIZATION_METADATA)?.value ?? 'blocks';
  return `${relative(bundleDir, file)}: ${label} as MatMulNBits blocks (${formatBytes(statSync(file).size)})`;
}
const ALIGN = 64;

export class PackedWeightsFile {
  private readonly fd: number;
  private length = 0;

  /** Creates `folder/weights.bin` (refusing an existing one). */
  constructor(folder: string) {
    this.fd = openSync(join(folder, PACKED_WEIGHTS_FILE), 'wx');
  }

  get bytes(): number {
    return this.length;
  }

  append(data: Uint8Array): ExternalLocation {
    const pad = (ALIGN - (this.length % ALIGN)) % ALIGN;
    if (pad) writeSync(this.fd, new Uint8Array(pad), 0, pad, this.length);
    const offset = this.length + pad;
    for (let at = 0; at < data.length; ) at += writeSync(this.fd, data, at, data.length - at, offset + at);
    this.length = offset + data.length;
    return { location: PACKED_WEIGHTS_FILE, offset, length: data.length };
  }

  /** An initializer named `name` holding `data` in this file. */
  initializer(b: GraphBuilder, name: string, dtype: ElemType, dims: readonly number[], data: Uint8Array | Float32Array): string {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return b.initExternal(name, dtype, dims, this.append(bytes));
  }

  /** MatMulNBits' initializers for `key` (B, scales, zero points, offsets), written here. */
  linear(b: GraphBuilder, key: string, w: NBitsWeights, accuracyLevel = accuracyLevelFor(w.bits)): PackedLinear {
    const blocks = w.k / w.block;
    const f32 = (suffix: string, data: Float32Array, dims: number[]) => this.initializer(b, `${key}:${suffix}`, 'float32', dims, data);
    return {
      n: w.n,
      k: w.k,
      bits: w.bits,
      block: w.block,
      accuracyLevel,
      b: this.initializer(b, `${key}:q${w.bits}`, 'uint8', [w.n, blocks, (w.block * w.bits) / 8], w.b),
      scales: f32('scales', w.scales, [w.n * blocks]),
      zeros: w.zeros && f32('zeros', w.zeros, [w.n * blocks]),
      offsets: w.offsets && f32('offsets', w.offsets, [w.n, blocks]),
    };
  }

  close(): void {
    closeSync(this.fd);
  }
}
