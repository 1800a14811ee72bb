/**
 * POST /v1/images/edits, OpenAI-compatible: multipart `image` (any size), optional `mask` (OpenAI's
 * semantics: fully transparent pixels are the area to generate, the others stay where they are),
 * `prompt`, `size`, `n`, `response_format`. The image is the whole picture, scaled to the output.
 * Without a mask it is the job's `init` as it is; with one, the mask's opaque rectangle, scaled to the
 * output, becomes the job's `keep`, and the part of the scaled picture under it becomes the `init`
 * (the job API places its init into `keep`), so the kept pixels land where they were.
 */
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import sharp from 'sharp';
import { MAX_UPLOAD_PIXELS, type KeepRect } from '../../contract/index.ts';
import { ApiError } from '../errors.ts';
import { readMultipart, type MultipartBody } from '../multipart.ts';
import { parseOrThrow, type Limits } from '../schemas.ts';
import { inspectImage, readImageHeader, type ImageInput } from '../uploads.ts';
import { answerOpenAi, requireB64Json } from './openai.ts';
import { defaultSize, requireImageToImage, resolveParams, type Handler, type Services } from './context.ts';

/** Longest text field: a prompt of 2000 characters of up to 4 UTF-8 bytes, with room to spare. */
const MAX_FIELD_BYTES = 16 * 1024;

export function editHandler(services: Services): Handler {
  return async (ctx) => {
    parseOrThrow(services.schemas.emptyQuery, ctx.query, 'query');
    const { body, width, height, keep, upload } = await receiveEdit(services, ctx.req);
    const strength = keep === null ? 1 : body.strength;
    await answerOpenAi(
      services,
      ctx,
      body,
      (seed) => resolveParams(services, { prompt: body.prompt, width, height, steps: body.steps, seed, init: upload.id, strength, keep: keep ?? undefined }),
      { ...body, size: `${width}x${height}`, image: upload.id, ...(keep ? { keep } : {}) },
      () => services.uploads.delete(upload.id),
    );
  };
}

/**
 * The request, streamed to disk within an upload slot, checked, and its init stored. Everything that
 * can refuse it (fields, the model, the images, a full queue) is checked before anything is stored.
 */
async function receiveEdit(services: Services, req: IncomingMessage) {
  const { schemas, uploads } = services;
  const release = services.uploadSlots.take();
  let files: MultipartBody['files'] = {};
  try {
    const received = await readMultipart(req, { files: ['image', 'mask'], filePath: () => uploads.tempPath(), maxFieldBytes: MAX_FIELD_BYTES, limits: services.uploadLimits });
    files = received.files;
    const body = parseOrThrow(schemas.edits, received.fields, 'body');
    requireImageToImage(services, 'image');
    requireB64Json(body);
    if (!files.image) throw new ApiError('missing_field', 'image is required: send the picture to edit as a file part named "image".', { field: 'image' });
    const image = await inspectImage(files.image.path);
    const [width, height] = body.size ?? sizeOf(image, services);
    const keep = files.mask ? await keepFromMask(files.mask.path, image, width, height) : undefined;
    services.queue.requireRoom(body.n ?? 1);
    const upload = keep ? await uploads.save(await keptPart(files.image.path, width, height, keep), { width: keep.width, height: keep.height, format: 'png' }) : await uploads.adopt(files.image.path, image);
    return { body, width, height, keep, upload };
  } finally {
    release();
    await Promise.all(Object.values(files).map((file) => rm(file.path, { force: true }))); // the adopted image is gone already
  }
}

/** The image's own size when this machine can generate it, else the default size. */
function sizeOf(image: { width: number; height: number }, services: { limits: Limits } & Parameters<typeof defaultSize>[0]): [number, number] {
  const { minSide, maxSide, maxPixels } = services.limits;
  const fits = (side: number) => side >= minSide && side <= maxSide;
  return fits(image.width) && fits(image.height) && image.width * image.height <= maxPixels ? [image.width, image.height] : defaultSize(services);
}

/**
 * The picture scaled to the output (as the pipeline scales an init: upright, sharp's Lanczos) and cut
 * to `keep`: what the job places into `keep`, pixel for pixel. PNG, so nothing is lost on the way.
 */
function keptPart(image: ImageInput, width: number, height: number, keep: KeepRect): Promise<Buffer> {
  return sharp(image, { limitInputPixels: MAX_UPLOAD_PIXELS })
    .rotate()
    .resize(width, height, { fit: 'fill' })
    .extract({ left: keep.x, top: keep.y, width: keep.width, height: keep.height })
    .png()
    .toBuffer();
}

/**
 * The keep rectangle a mask describes, in output pixels: the bounding box of its pixels that are not
 * fully transparent, which must fill it (only rectangular keep regions are supported). undefined when
 * the whole mask is kept (plain image-to-image); null when nothing is (everything generated). The mask
 * must be the image's size (as OpenAI requires); its alpha is decoded once, scaled to the output.
 */
export async function keepFromMask(mask: ImageInput, image: { width: number; height: number }, width: number, height: number): Promise<KeepRect | null | undefined> {
  const header = await readImageHeader(mask);
  if (header.width !== image.width || header.height !== image.height) {
    throw new ApiError('invalid_field', `mask: it is ${header.width}×${header.height}, but the image is ${image.width}×${image.height}; the mask must be the image's size.`, { field: 'mask' });
  }
  let alpha: Buffer;
  try {
    alpha = await sharp(mask, { limitInputPixels: MAX_UPLOAD_PIXELS, failOn: 'error' }).ensureAlpha().extractChannel(3).resize(width, height, { kernel: 'nearest', fit: 'fill' }).raw().toBuffer();
  } catch (error) {
    throw new ApiError('invalid_image', `The mask could not be decoded: ${(error as Error).message}.`);
  }
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  let transparent = 0;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      if (alpha[i] === 0) {
        transparent++;
        continue;
      }
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      y1 = y;
    }
  }
  if (x1 < 0) return null;
  const kept = (x1 - x0 + 1) * (y1 - y0 + 1);
  // the box is one rectangle exactly when every pixel outside it is transparent and none inside is
  if (transparent !== width * height - kept) throw notRectangle();
  if (kept === width * height) return undefined;
  // no feather: OpenAI keeps every opaque pixel as it is; the new area is drawn to meet them
  return { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1, feather: 0 };
}

function notRectangle(): ApiError {
  return new ApiError('invalid_field', 'mask: the kept (not fully transparent) pixels must form one rectangle; this companion extends images, it does not inpaint arbitrary shapes.', { field: 'mask' });
}
