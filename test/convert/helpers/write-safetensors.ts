/** Writes a safetensors file (test-only): 8-byte little-endian header length, JSON header, raw bytes. */
import { writeFileSync } from 'node:fs';
import type { SafetensorsDtype } from '../../../runtime/convert/safetensors.ts';

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
