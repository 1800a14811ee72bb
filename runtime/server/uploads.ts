/**
 * Uploaded init images: checked with sharp, stored atomically as `uploads/<id>.<ext>` beside a record
 * `uploads/<id>.json` (written last: an upload exists once its record does), and deleted 24 h after
 * their last use, or oldest use first while all uploads together are over 2 GiB.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { z } from 'zod';
import { MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIDE, UPLOAD_ID_PATTERN, UPLOAD_TYPES, type UploadFormat, type UploadMimeType, type UploadView } from '../contract/index.ts';
import { TEMP_SUFFIX, writeFileAtomic } from '../files/atomic.ts';
import { ApiError } from './errors.ts';

export const UPLOAD_RETENTION_MS = 24 * 60 * 60 * 1000;
export const MAX_UPLOADS_TOTAL_BYTES = 2 * 1024 ** 3;

const UploadRecordSchema = z.object({
  id: z.string().regex(UPLOAD_ID_PATTERN),
  width: z.number().int(),
  height: z.number().int(),
  format: z.enum(Object.values(UPLOAD_TYPES) as [UploadFormat, ...UploadFormat[]]),
  bytes: z.number().int(),
  createdAt: z.string(),
  lastUsedAt: z.string(),
});
type UploadRecord = z.output<typeof UploadRecordSchema>;

export function isUploadMimeType(type: string): type is UploadMimeType {
  return Object.hasOwn(UPLOAD_TYPES, type);
}

/**
 * The image's size and format from its header, then a full decode, all with sharp. Sides and pixel
 * count are checked from the header alone, so a decompression bomb (a tiny file declaring
 * 100 000 × 100 000) is refused before a single pixel is decoded.
 */
export async function inspectImage(bytes: Uint8Array, declared?: UploadMimeType): Promise<ImageHeader> {
  const header = await readImageHeader(bytes, declared);
  try {
    // decodes every pixel (streamed: the whole bitmap is never held), so a truncated file is refused here, not mid-job
    await sharp(bytes, { limitInputPixels: MAX_UPLOAD_PIXELS, failOn: 'error', sequentialRead: true }).stats();
  } catch (error) {
    throw new ApiError('invalid_image', `The image could not be decoded: ${(error as Error).message}.`);
  }
  return header;
}

export interface ImageHeader {
  width: number;
  height: number;
  format: UploadFormat;
}

/** The image's size and format from its header alone (no pixel decoded), within the upload limits. */
export async function readImageHeader(bytes: Uint8Array, declared?: UploadMimeType): Promise<ImageHeader> {
  const formats: readonly string[] = Object.values(UPLOAD_TYPES);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new ApiError('invalid_image', `The image is not a readable PNG, JPEG or WebP (${(error as Error).message}).`);
  }
  const format = meta.format as UploadFormat;
  if (declared ? format !== UPLOAD_TYPES[declared] : !formats.includes(format)) {
    throw new ApiError('invalid_image', `The image is ${meta.format ?? 'of an unknown type'}${declared ? `, but Content-Type says ${declared}` : '; send PNG, JPEG or WebP'}.`);
  }
  const { width, height } = meta;
  if (width > MAX_UPLOAD_SIDE || height > MAX_UPLOAD_SIDE || width * height > MAX_UPLOAD_PIXELS) {
    throw new ApiError('image_dimensions_too_large', `The image is ${width}×${height}; uploads may be at most ${MAX_UPLOAD_SIDE} px a side and ${MAX_UPLOAD_PIXELS} pixels. It was not decoded.`);
  }
  return { width, height, format };
}

export class UploadStore {
  readonly dir: string;

  constructor(
    dataDir: string,
    private readonly options: { retentionMs?: number; maxTotalBytes?: number; now?: () => number } = {},
  ) {
    this.dir = join(dataDir, 'uploads');
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private get retentionMs(): number {
    return this.options.retentionMs ?? UPLOAD_RETENTION_MS;
  }

  private recordPath(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private imagePath(record: Pick<UploadRecord, 'id' | 'format'>): string {
    return join(this.dir, `${record.id}.${record.format}`);
  }

  /** Removes leftovers of interrupted writes and what the retention rule says is gone. */
  async open(): Promise<void> {
    for (const name of await this.names()) if (name.endsWith(TEMP_SUFFIX)) await rm(join(this.dir, name), { force: true });
    await this.prune();
  }

  /** Stores checked image bytes; answers the view with its id. */
  async save(bytes: Uint8Array, image: { width: number; height: number; format: UploadFormat }): Promise<UploadView> {
    const now = new Date(this.now()).toISOString();
    const record: UploadRecord = { id: newUploadId(), ...image, bytes: bytes.byteLength, createdAt: now, lastUsedAt: now };
    await writeFileAtomic(this.imagePath(record), bytes, 0o600);
    await writeFileAtomic(this.recordPath(record.id), `${JSON.stringify(record)}\n`, 0o600);
    await this.prune(record.id);
    return this.view(record);
  }

  /** The upload's view, its last use set to now (which pushes its expiry back), or null when there is none. */
  async use(id: string): Promise<UploadView | null> {
    const record = await this.record(id);
    if (!record) return null;
    record.lastUsedAt = new Date(this.now()).toISOString();
    await writeFileAtomic(this.recordPath(id), `${JSON.stringify(record)}\n`, 0o600);
    return this.view(record);
  }

  /** The upload's bytes (a use), or null when it is gone. */
  async read(id: string): Promise<Uint8Array | null> {
    const view = await this.use(id);
    if (!view) return null;
    try {
      return new Uint8Array(await readFile(this.imagePath(view)));
    } catch {
      return null;
    }
  }

  private view(record: UploadRecord): UploadView {
    const { id, width, height, format, bytes } = record;
    return { id, width, height, format, bytes, expiresAt: new Date(Date.parse(record.lastUsedAt) + this.retentionMs).toISOString() };
  }

  private async record(id: string): Promise<UploadRecord | null> {
    if (!UPLOAD_ID_PATTERN.test(id)) return null;
    let parsed: UploadRecord;
    try {
      parsed = UploadRecordSchema.parse(JSON.parse(await readFile(this.recordPath(id), 'utf8')));
    } catch {
      return null;
    }
    if (Date.parse(parsed.lastUsedAt) + this.retentionMs <= this.now()) {
      await this.remove(parsed);
      return null;
    }
    return parsed;
  }

  private async names(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch {
      return [];
    }
  }

  private async remove(record: Pick<UploadRecord, 'id' | 'format'>): Promise<void> {
    // the record first: without it the upload no longer exists, whatever happens to the image file
    await rm(this.recordPath(record.id), { force: true });
    await rm(this.imagePath(record), { force: true });
  }

  /** Deletes expired uploads, then the least recently used while the total is over the limit (never `keep`). */
  private async prune(keep?: string): Promise<void> {
    const records: UploadRecord[] = [];
    const names = await this.names();
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const record = await this.record(name.slice(0, -'.json'.length)); // removes it when expired
      if (record) records.push(record);
    }
    // image files whose record is gone (a crash between the two writes, or a removal half done)
    const live = new Set(records.map((r) => `${r.id}.${r.format}`));
    for (const name of names) {
      if (name.startsWith('upload-') && !name.endsWith('.json') && !name.endsWith(TEMP_SUFFIX) && !live.has(name)) {
        const age = this.now() - (await stat(join(this.dir, name)).catch(() => ({ mtimeMs: this.now() }))).mtimeMs;
        if (age > 60_000) await rm(join(this.dir, name), { force: true }); // not one being saved right now
      }
    }
    let total = records.reduce((sum, r) => sum + r.bytes, 0);
    const limit = this.options.maxTotalBytes ?? MAX_UPLOADS_TOTAL_BYTES;
    for (const record of records.sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt))) {
      if (total <= limit) break;
      if (record.id === keep) continue;
      await this.remove(record);
      total -= record.bytes;
    }
  }
}

/** "upload-" and 24 characters of a–z0–5 (120 random bits, 5 per character). */
function newUploadId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz012345';
  return `upload-${Array.from(randomBytes(24), (b) => alphabet[b & 31]).join('')}`;
}
