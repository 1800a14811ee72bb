/**
 * Uploaded images on the wire: POST /v1/uploads takes the raw bytes of one PNG, JPEG or WebP image
 * and answers with this view. The id is what a job's `init` names.
 */
import * as z from 'zod';

export const UPLOAD_TYPES = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/webp': 'webp' } as const;
export type UploadMimeType = keyof typeof UPLOAD_TYPES;
export type UploadFormat = (typeof UPLOAD_TYPES)[UploadMimeType];

/** Default size limit of one upload's body. */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
/** Largest side of an uploaded image, read from its header before any pixel is decoded. */
export const MAX_UPLOAD_SIDE = 16384;
/** Largest width × height of an uploaded image (268 MP, sharp's own default). */
export const MAX_UPLOAD_PIXELS = 0x3fff * 0x3fff;

export const UploadViewSchema = z.object({
  id: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  format: z.enum(Object.values(UPLOAD_TYPES) as [UploadFormat, ...UploadFormat[]]),
  bytes: z.number().int(),
  /** When the upload is deleted unless a job uses it before then (each use pushes this back). */
  expiresAt: z.string(),
});
export type UploadView = z.output<typeof UploadViewSchema>;
