/** Writes a safetensors file (test-only): 8-byte little-endian header length, JSON header, raw bytes. */
import { writeFileSync } from 'node:fs';
import type { SafetensorsDtype } from '../../../runtime/convert/safetensors.ts';
import { gaussianNoise } from '../../../runtime/pipeline/noise.ts';

export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  bytes: Uint8Array;
}

export function writeSafetensors(file: string, tensors: ReadonlyMap<string, RawTensor>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [key, t] of tensors) {
    header[key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([length, json, ...[...tensors.values()].map((t) => t.bytes)]));
}

/**
 * A checkpoint of `shapes` with random f32 weights of realistic sizes (N(0, 1/fan_in) matrices and
 * kernels, norm scales near 1, small biases, BatchNorm variances in [0.5, 1.5)), from `seed`.
 * Integer entries (a BatchNorm's num_batches_tracked) are written as I64 zeros.
 */
export function writeRandomCheckpoint(file: string, shapes: Readonly<Record<string, readonly number[]>>, seed: number): void {
  const tensors = new Map<string, RawTensor>();
  let s = seed;
  for (const [key, shape] of Object.entries(shapes)) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (key.endsWith('num_batches_tracked')) {
      tensors.set(key, { dtype: 'I64', shape, bytes: new Uint8Array(8 * count) });
      continue;
    }
    const values = gaussianNoise(s++, count);
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < count; i++) {
      const n = values[i];
      if (key.endsWith('running_var')) values[i] = 0.5 + Math.abs(n) / 3;
      else if (shape.length >= 2) values[i] = n / Math.sqrt(fanIn);
      else if (key.endsWith('.bias') || key.endsWith('running_mean')) values[i] = 0.05 * n;
      else values[i] = 1 + 0.1 * n;
    }
    tensors.set(key, { dtype: 'F32', shape, bytes: new Uint8Array(values.buffer) });
  }
  writeSafetensors(file, tensors);
}
