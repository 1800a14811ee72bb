/** POST /v1/uploads: the raw bytes of one PNG, JPEG or WebP image, streamed to disk, checked and stored; answers its id. */
import { rm } from 'node:fs/promises';
import { UPLOAD_TYPES, type UploadMimeType } from '../../contract/index.ts';
import { ApiError } from '../errors.ts';
import { receiveBody, sendJson } from '../http.ts';
import { parseOrThrow } from '../schemas.ts';
import { inspectImage, isUploadMimeType } from '../uploads.ts';
import type { Handler, Services } from './context.ts';

/** Seconds a client refused for too many concurrent uploads is asked to wait. */
const UPLOAD_RETRY_AFTER_S = 2;

/**
 * How many image bodies (uploads, edits) are received and checked at once. Each holds a file being
 * written and, while it is checked, its bytes and a decoder: more at once would only share the same
 * disk and cores, and a burst of them would take the memory.
 */
export class UploadSlots {
  private taken = 0;

  constructor(readonly max: number) {}

  /** A slot, released by calling the returned function; 429 too_many_uploads (closing the connection) when none is free. */
  take(): () => void {
    if (this.taken >= this.max) {
      throw new ApiError('too_many_uploads', `${this.max} images are being uploaded already; try again in ${UPLOAD_RETRY_AFTER_S} s.`, {
        headers: { 'Retry-After': String(UPLOAD_RETRY_AFTER_S), Connection: 'close' },
      });
    }
    this.taken++;
    let released = false;
    return () => {
      if (!released) this.taken--;
      released = true;
    };
  }
}

export function uploadHandler(services: Services): Handler {
  const { schemas, uploads, uploadLimits, uploadSlots } = services;
  return async (ctx) => {
    parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
    const type = (ctx.req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!isUploadMimeType(type)) {
      throw new ApiError('unsupported_image_type', `Content-Type must be ${Object.keys(UPLOAD_TYPES).join(', ')} with the image bytes as the body, not ${JSON.stringify(type || 'none')}.`, {
        headers: { Connection: 'close' },
      });
    }
    const release = uploadSlots.take();
    const temp = uploads.tempPath();
    try {
      if ((await receiveBody(ctx.req, temp, uploadLimits)) === 0) throw new ApiError('invalid_image', 'The body is empty: send the image bytes.');
      const image = await inspectImage(temp, type satisfies UploadMimeType);
      sendJson(ctx.res, 201, await uploads.adopt(temp, image), ctx.headers);
    } finally {
      release();
      await rm(temp, { force: true }); // gone already once adopted
    }
  };
}
