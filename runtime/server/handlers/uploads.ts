/** POST /v1/uploads: the raw bytes of one PNG, JPEG or WebP image, checked and stored; answers its id. */
import type { IncomingMessage } from 'node:http';
import { UPLOAD_TYPES, type UploadMimeType } from '../../contract/index.ts';
import { ApiError } from '../errors.ts';
import { readBody, sendJson, type BodyLimits } from '../http.ts';
import { parseOrThrow } from '../schemas.ts';
import { inspectImage, isUploadMimeType } from '../uploads.ts';
import type { Handler, Services } from './context.ts';

export function uploadHandler(services: Services): Handler {
  const { schemas, uploads, uploadLimits } = services;
  return async (ctx) => {
    parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
    const type = (ctx.req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (!isUploadMimeType(type)) {
      throw new ApiError('unsupported_image_type', `Content-Type must be ${Object.keys(UPLOAD_TYPES).join(', ')} with the image bytes as the body, not ${JSON.stringify(type || 'none')}.`, {
        headers: { Connection: 'close' },
      });
    }
    const bytes = await readImageBody(ctx.req, uploadLimits);
    const image = await inspectImage(bytes, type satisfies UploadMimeType);
    sendJson(ctx.res, 201, await uploads.save(bytes, image), ctx.headers);
  };
}

/** An image body within the upload limit (413 payload_too_large past it). */
export async function readImageBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const bytes = await readBody(req, limits, (close) =>
    new ApiError('payload_too_large', `The image is larger than the upload limit of ${limits.maxBytes} bytes.`, { headers: close ? { Connection: 'close' } : {} }),
  );
  if (bytes.length === 0) throw new ApiError('invalid_image', 'The body is empty: send the image bytes.');
  return bytes;
}
