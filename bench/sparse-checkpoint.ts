/**
 * Safetensors files with a real header and a hole for data (the bytes read as zeros and take no
 * disk), so a bench can convert, plan or load full-size shapes without full-size downloads; or, given
 * a fill block, data made of that block repeated (for benches that run the weights).
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';

const BYTES_PER_ELEMENT = { F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, I64: 8 } as const;
export type SparseDtype = keyof typeof BYTES_PER_ELEMENT;

/** Writes `path` with one tensor per entry of `shapes` (in that order), each in `dtype(key)`; returns the file's size. */
export function writeSparseCheckpoint(
  path: string,
  shapes: Iterable<[string, readonly number[]]>,
  dtype: SparseDtype | ((key: string) => SparseDtype),
  fill?: Uint8Array,
): number {
  const typeOf = typeof dtype === 'function' ? dtype : () => dtype;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [key, shape] of shapes) {
    const type = typeOf(key);
    const bytes = shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[type];
    header[key] = { dtype: type, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = JSON.stringify(header);
  const json = Buffer.from(text.padEnd(Math.ceil(text.length / 8) * 8, ' '));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, json);
    if (fill) for (let left = offset; left > 0; left -= fill.length) writeSync(fd, fill, 0, Math.min(fill.length, left));
    else ftruncateSync(fd, 8 + json.length + offset);
  } finally {
    closeSync(fd);
  }
  return 8 + json.length + offset;
}
