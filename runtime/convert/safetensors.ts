/**
 * safetensors headers: an 8-byte little-endian header length, a JSON header, then the tensor bytes.
 * Only the header is read; tensors stay where they are (the bundle points at them by offset). The one
 * exception is a few small statistics the bundle's dype.json carries (FLUX.2's latent BatchNorm).
 */
import { getFloat16 } from '@petamoriken/float16';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { z } from 'zod';

/** Element types of the safetensors format (the ones FLUX checkpoints use and a few more). */
export const SAFETENSORS_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
});

/** Headers beyond this are refused before they are read: real ones are a few MB at most. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** A tensor as stored in a checkpoint file: where its bytes are and how to read them. */
export interface StoredTensor {
  readonly key: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** The file that holds it. */
  readonly file: string;
  /** Absolute byte offset of its data in `file` (header included). */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsHeader {
  readonly file: string;
  readonly fileSize: number;
  /** Bytes of the length prefix plus the JSON header: data offsets count from here. */
  readonly dataStart: number;
  /** The raw JSON header bytes (hashed to detect a changed checkpoint). */
  readonly headerBytes: Uint8Array;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, StoredTensor>;
}

export class SafetensorsError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'SafetensorsError';
  }
}

const entrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});

/** Reads and validates the header of one safetensors file; every offset is checked against the file size. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const handle = await open(file, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    if (fileSize < 8) throw new SafetensorsError(file, `${fileSize} bytes is too short for a safetensors file (8-byte header length missing)`);
    const prefix = Buffer.alloc(8);
    await handle.read(prefix, 0, 8, 0);
    const headerLength = prefix.readBigUInt64LE(0);
    if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
      throw new SafetensorsError(file, `header length ${headerLength} exceeds the file (${fileSize} bytes) or the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file, or truncated`);
    }
    const headerBytes = new Uint8Array(Number(headerLength));
    await handle.read(headerBytes, 0, headerBytes.length, 8);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
    } catch (error) {
      throw new SafetensorsError(file, `header is not valid UTF-8 JSON (${(error as Error).message}): not a safetensors file, or corrupt`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SafetensorsError(file, 'header is not a JSON object');
    const dataStart = 8 + headerBytes.length;
    const dataSize = fileSize - dataStart;
    const tensors = new Map<string, StoredTensor>();
    let metadata: Record<string, string> = {};
    for (const [key, raw] of Object.entries(json as Record<string, unknown>)) {
      if (key === '__metadata__') {
        const parsed = z.record(z.string(), z.string()).safeParse(raw);
        if (!parsed.success) throw new SafetensorsError(file, '__metadata__ must map strings to strings');
        metadata = parsed.data;
        continue;
      }
      const parsed = entrySchema.safeParse(raw);
      if (!parsed.success) throw new SafetensorsError(file, `tensor ${key}: entry must be {dtype, shape, data_offsets}`);
      const { dtype, shape, data_offsets: [begin, end] } = parsed.data;
      if (!(SAFETENSORS_DTYPES as readonly string[]).includes(dtype)) {
        throw new SafetensorsError(file, `tensor ${key}: unknown dtype ${dtype} (known: ${SAFETENSORS_DTYPES.join(', ')})`);
      }
      const elements = shape.reduce((a, b) => a * b, 1);
      const expected = elements * DTYPE_BYTES[dtype as SafetensorsDtype];
      if (end < begin || end - begin !== expected) {
        throw new SafetensorsError(file, `tensor ${key}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype}${JSON.stringify(shape)} needs ${expected}`);
      }
      if (end > dataSize) {
        throw new SafetensorsError(file, `tensor ${key} ends at byte ${dataStart + end}, past the end of the file (${fileSize} bytes): the file is truncated`);
      }
      tensors.set(key, { key, dtype: dtype as SafetensorsDtype, shape, file, byteOffset: dataStart + begin, byteLength: end - begin });
    }
    return { file, fileSize, dataStart, headerBytes, metadata, tensors };
  } finally {
    await handle.close();
  }
}

/** Tensors read into dype.json are statistics, never weights: a few thousand values at most. */
const SMALL_TENSOR_ELEMENTS = 65536;

/** The values of a small float tensor (F32, F16 or BF16), read from its file. */
export function readSmallTensor(t: StoredTensor): Float64Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (count > SMALL_TENSOR_ELEMENTS) throw new SafetensorsError(t.file, `tensor ${t.key} has ${count} values; only small statistics are read (at most ${SMALL_TENSOR_ELEMENTS})`);
  const bytes = Buffer.alloc(t.byteLength);
  const fd = openSync(t.file, 'r');
  try {
    if (readSync(fd, bytes, 0, bytes.length, t.byteOffset) !== bytes.length) throw new SafetensorsError(t.file, `tensor ${t.key}: file ends inside its data`);
  } finally {
    closeSync(fd);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read: Partial<Record<SafetensorsDtype, (i: number) => number>> = {
    F32: (i) => view.getFloat32(4 * i, true),
    F16: (i) => getFloat16(view, 2 * i, true),
    // bfloat16 is the upper half of a float32
    BF16: (i) => new Float32Array(Uint32Array.of(view.getUint16(2 * i, true) << 16).buffer)[0],
  };
  const at = read[t.dtype];
  if (!at) throw new SafetensorsError(t.file, `tensor ${t.key} is ${t.dtype}; statistics must be F32, F16 or BF16`);
  return Float64Array.from({ length: count }, (_, i) => at(i));
}
