/**
 * A converted bundle's graphs point at byte offsets inside the original safetensors files (hard-linked
 * into the bundle). `checkpoints.json` records each file's size and a hash of its header, so a file
 * changed in place or removed since the conversion is refused with a clear message instead of
 * loading garbage weights.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PipelineError } from '../pipeline/errors.ts';

export const CHECKPOINTS_FILE = 'checkpoints.json';

export const CheckpointRecordSchema = z
  .object({
    /** Path inside the bundle. */
    path: z.string().min(1),
    /** Where the file came from, at conversion time. */
    source: z.string(),
    /** How it got into the bundle. */
    how: z.enum(['hardlink', 'reflink', 'copy']),
    size: z.number().int().nonnegative(),
    headerSha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export const CheckpointsFileSchema = z
  .object({ format: z.literal('dype-checkpoints'), version: z.literal(1), files: z.array(CheckpointRecordSchema) })
  .strict();

export type CheckpointRecord = z.infer<typeof CheckpointRecordSchema>;

/** Size and SHA-256 of the length prefix + JSON header: cheap even for a 24 GB file. */
/** The hash a record keeps of a safetensors header: its 8-byte length prefix, then the JSON bytes. */
export function headerSha256(prefix: Uint8Array, header: Uint8Array): string {
  return createHash('sha256').update(prefix).update(header).digest('hex');
}

/** The 8-byte little-endian length prefix of a safetensors header of `length` bytes. */
export function headerLengthPrefix(length: number): Uint8Array {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(length));
  return prefix;
}

export function fingerprint(file: string): { size: number; headerSha256: string } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    const got = readSync(fd, prefix, 0, 8, 0);
    const length = got === 8 ? Number(prefix.readBigUInt64LE(0)) : 0;
    const header = Buffer.alloc(Math.max(0, Math.min(length, size - 8)));
    if (header.length) readSync(fd, header, 0, header.length, 8);
    return { size, headerSha256: headerSha256(prefix.subarray(0, got), header) };
  } finally {
    closeSync(fd);
  }
}

/** Throws a PipelineError naming the file when a recorded checkpoint is missing or changed. No record file: nothing to check. */
export function verifyCheckpoints(dir: string): CheckpointRecord[] {
  const recordPath = join(dir, CHECKPOINTS_FILE);
  if (!existsSync(recordPath)) return [];
  let records: CheckpointRecord[];
  try {
    records = CheckpointsFileSchema.parse(JSON.parse(readFileSync(recordPath, 'utf8'))).files;
  } catch (error) {
    throw new PipelineError('bundle_invalid', `${recordPath} is invalid: ${(error as Error).message}`);
  }
  const reconvert = 'Convert the checkpoints again with `dype convert`.';
  for (const record of records) {
    const file = join(dir, record.path);
    const origin = `${record.how === 'copy' ? 'a copy' : `a ${record.how === 'hardlink' ? 'hard link' : 'reflink'}`} of ${record.source}`;
    if (!existsSync(file)) {
      throw new PipelineError('bundle_invalid', `model bundle ${dir} lost ${record.path} (${origin}): its graph reads weights from that file. ${reconvert}`);
    }
    const now = fingerprint(file);
    if (now.size !== record.size || now.headerSha256 !== record.headerSha256) {
      const what = now.size !== record.size ? `its size changed from ${record.size} to ${now.size} bytes` : 'its safetensors header changed';
      throw new PipelineError(
        'bundle_invalid',
        `model bundle ${dir}: ${record.path} (${origin}) changed since the conversion: ${what}. ` +
          `The graph points at byte offsets in the old file, so it cannot be used. ${reconvert}`,
      );
    }
  }
  return records;
}
