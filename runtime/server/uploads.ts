/**
 * Uploaded init images: received into a temp file, checked with sharp, stored as `uploads/<id>.<ext>`
 * (only the image's own bytes) beside a record `uploads/<id>.json` (written last: an upload exists once
 * its record does), and deleted a while after their last use (24 h by default), or oldest use first
 * while everything in the folder is over the cap (2 GiB by default). Uploads that a queued or running
 * job will read are never deleted.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { z } from 'zod';
import { MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIDE, UPLOAD_ID_PATTERN, UPLOAD_TYPES, type UploadFormat, type UploadMimeType, type UploadView } from '../contract/index.ts';
import { syncDir, TEMP_SUFFIX, writeFileAtomic } from '../files/atomic.ts';
import { ApiError } from './errors.ts';
import { imageByteLength, ImageStructureError } from './image-end.ts';

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
 * The image's size and format from its header, then its container read to its end marker and a full
 * decode, all before anything is stored. Sides and pixel count are checked from the header alone, so
 * a decompression bomb (a tiny file declaring 100 000 × 100 000) is refused before a single pixel is
 * decoded. A file cut short, a corrupt JPEG scan (libjpeg's warnings count), pixels that do not decode:
 * 400 invalid_image. `byteLength` is where the image ends; bytes after it are not the image.
 * (Lossy WebP carries no checksum: libwebp decodes changed bytes inside it without complaint.)
 */
export async function inspectImage(input: ImageInput, declared?: UploadMimeType): Promise<InspectedImage> {
  const header = await readImageHeader(input, declared);
  const bytes = typeof input === 'string' ? await readFile(input) : input;
  let byteLength: number;
  try {
    byteLength = imageByteLength(bytes, header.format);
  } catch (error) {
    if (!(error instanceof ImageStructureError)) throw error;
    throw new ApiError('invalid_image', `The image is not whole: ${error.message}.`);
  }
  try {
    // every pixel (streamed: the whole bitmap is never held), so a damaged file is refused here, not mid-job
    await sharp(bytes.subarray(0, byteLength), { limitInputPixels: MAX_UPLOAD_PIXELS, failOn: 'warning', sequentialRead: true }).stats();
  } catch (error) {
    throw new ApiError('invalid_image', `The image could not be decoded: ${(error as Error).message}.`);
  }
  return { ...header, byteLength };
}

/** Image bytes, or the path of a file holding them. */
export type ImageInput = Uint8Array | string;

export interface ImageHeader {
  width: number;
  height: number;
  format: UploadFormat;
}

export interface InspectedImage extends ImageHeader {
  /** The image's own bytes: anything after them is not stored. */
  byteLength: number;
}

/** The image's size and format from its header alone (no pixel decoded), within the upload limits. */
export async function readImageHeader(bytes: ImageInput, declared?: UploadMimeType): Promise<ImageHeader> {
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

export interface UploadStoreOptions {
  retentionMs?: number;
  /** The most bytes the uploads folder may hold (records, images, bodies being received) before the least recently used go. */
  maxTotalBytes?: number;
  /** Ids of uploads that must stay: those a queued or running job will read. */
  pinned?: () => ReadonlySet<string>;
  now?: () => number;
}

export class UploadStore {
  readonly dir: string;

  constructor(
    dataDir: string,
    private readonly options: UploadStoreOptions = {},
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

  /**
   * At start, nothing is being written: removes every leftover of an interrupted write (temp files,
   * images whose record was never written), whatever its age, then what the retention rules say is gone.
   */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const live = new Set((await this.records()).map((r) => `${r.id}.${r.format}`));
    for (const name of await this.names()) {
      if (name.endsWith(TEMP_SUFFIX) || (name.startsWith('upload-') && !name.endsWith('.json') && !live.has(name))) await rm(join(this.dir, name), { force: true });
    }
    await this.prune();
  }

  /**
   * A new path in the uploads folder (made by `open`) for a body being received: counted toward the
   * cap while it exists, removed at start if left over.
   */
  tempPath(): string {
    return join(this.dir, `.body-${randomBytes(9).toString('hex')}${TEMP_SUFFIX}`);
  }

  /** Stores checked image bytes; answers the view with its id. */
  async save(bytes: Uint8Array, image: ImageHeader): Promise<UploadView> {
    const record = this.newRecord(image, bytes.byteLength);
    await writeFileAtomic(this.imagePath(record), bytes, 0o600);
    return this.commit(record);
  }

  /**
   * Stores a received body (a temp file from `tempPath`) holding a checked image: cut to the image's
   * own bytes, made durable, renamed into place. The temp file is gone afterwards.
   */
  async adopt(temp: string, image: InspectedImage): Promise<UploadView> {
    const { byteLength, ...header } = image;
    const record = this.newRecord(header, byteLength);
    try {
      const file = await open(temp, 'r+');
      try {
        await file.truncate(byteLength);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.imagePath(record));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await syncDir(this.dir);
    return this.commit(record);
  }

  private newRecord(image: ImageHeader, bytes: number): UploadRecord {
    const now = new Date(this.now()).toISOString();
    return { id: newUploadId(), width: image.width, height: image.height, format: image.format, bytes, createdAt: now, lastUsedAt: now };
  }

  /** Writes the record, which makes the upload exist, then keeps the folder within its cap. */
  private async commit(record: UploadRecord): Promise<UploadView> {
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

  /** Deletes an upload now (one whose request was refused after it was stored). */
  async delete(id: string): Promise<void> {
    const record = await this.record(id);
    if (record) await this.remove(record);
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
    if (Date.parse(parsed.lastUsedAt) + this.retentionMs <= this.now() && !this.options.pinned?.().has(id)) {
      await this.remove(parsed);
      return null;
    }
    return parsed;
  }

  /** Every live record (expired ones are removed on the way). */
  private async records(): Promise<UploadRecord[]> {
    const records: UploadRecord[] = [];
    for (const name of await this.names()) {
      if (!name.endsWith('.json')) continue;
      const record = await this.record(name.slice(0, -'.json'.length));
      if (record) records.push(record);
    }
    return records;
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

  /**
   * Deletes expired uploads, then the least recently used while everything in the folder (records,
   * images, bodies being received) is over the cap. Never `keep` (just saved) or a pinned upload.
   */
  private async prune(keep?: string): Promise<void> {
    const records = await this.records();
    let total = 0;
    for (const name of await this.names()) total += (await stat(join(this.dir, name)).catch(() => ({ size: 0 }))).size;
    const limit = this.options.maxTotalBytes ?? MAX_UPLOADS_TOTAL_BYTES;
    const pinned = this.options.pinned?.() ?? new Set<string>();
    for (const record of records.sort((a, b) => a.lastUsedAt.localeCompare(b.lastUsedAt))) {
      if (total <= limit) break;
      if (record.id === keep || pinned.has(record.id)) continue;
      const sizes = await Promise.all([this.recordPath(record.id), this.imagePath(record)].map((path) => stat(path).then((s) => s.size, () => 0)));
      await this.remove(record);
      total -= sizes[0] + sizes[1];
    }
  }
}

/** "upload-" and 24 characters of a–z0–5 (120 random bits, 5 per character). */
function newUploadId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz012345';
  return `upload-${Array.from(randomBytes(24), (b) => alphabet[b & 31]).join('')}`;
}
