/**
 * POST /v1/images/edits, OpenAI-compatible: multipart `image` (any size), optional `mask` (OpenAI's
 * semantics: fully transparent pixels are the area to generate, the others stay where they are),
 * `prompt`, `size`, `n`, `response_format`. The image is the whole picture, scaled to the output.
 * Without a mask it is the job's `init` as it is; with one, the mask's opaque rectangle, scaled to the
 * output, becomes the job's `keep`, and the part of the scaled picture under it becomes the `init`
 * (the job API places its init into `keep`), so the kept pixels land where they were.
 */
import sharp from 'sharp';
import { MAX_UPLOAD_PIXELS, type KeepRect } from '../../contract/index.ts';
import { ApiError } from '../errors.ts';
import { readMultipart } from '../multipart.ts';
import { parseOrThrow, type Limits } from '../schemas.ts';
import { inspectImage, readImageHeader, type ImageHeader } from '../uploads.ts';
import { answerOpenAi, requireB64Json } from './openai.ts';
import { defaultSize, requireImageToImage, resolveParams, type Handler, type Services } from './context.ts';

/** Longest text field: a prompt of 2000 characters of up to 4 UTF-8 bytes, with room to spare. */
const MAX_FIELD_BYTES = 16 * 1024;

export function editHandler(services: Services): Handler {
  const { schemas, uploads } = services;
  return async (ctx) => {
    parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
    const { fields, files } = await readMultipart(ctx.req, { files: ['image', 'mask'], maxFieldBytes: MAX_FIELD_BYTES, limits: services.uploadLimits });
    const body = parseOrThrow(schemas.edits, fields, 'body');
    // everything that can answer 400 before the image is saved, so a refused request leaves no upload
    requireImageToImage(services, 'image');
    requireB64Json(body);
    if (!files.image) throw new ApiError('missing_field', 'image is required: send the picture to edit as a file part named "image".', { field: 'image' });
    const image = await inspectImage(files.image);
    const [width, height] = body.size ?? sizeOf(image, services);
    const keep = files.mask ? await keepFromMask(files.mask, image, width, height) : undefined;
    const init = keep ? await keptPart(files.image, width, height, keep) : { bytes: files.image, image };
    const upload = await uploads.save(init.bytes, init.image);
    const strength = keep === null ? 1 : body.strength;
    await answerOpenAi(
      services,
      ctx,
      body,
      (seed) => resolveParams(services, { prompt: body.prompt, width, height, steps: body.steps, seed, init: upload.id, strength, keep: keep ?? undefined }),
      { ...body, size: `${width}x${height}`, image: upload.id, ...(keep ? { keep } : {}) },
    );
  };
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
async function keptPart(image: Uint8Array, width: number, height: number, keep: KeepRect): Promise<{ bytes: Uint8Array; image: ImageHeader }> {
  const bytes = await sharp(image, { limitInputPixels: MAX_UPLOAD_PIXELS })
    .rotate()
    .resize(width, height, { fit: 'fill' })
    .extract({ left: keep.x, top: keep.y, width: keep.width, height: keep.height })
    .png()
    .toBuffer();
  return { bytes, image: { width: keep.width, height: keep.height, format: 'png' } };
}

/**
 * The keep rectangle a mask describes, in output pixels: the bounding box of its pixels that are not
 * fully transparent, which must fill it (only rectangular keep regions are supported). undefined when
 * the whole mask is kept (plain image-to-image); null when nothing is (everything generated). The mask
 * must be the image's size (as OpenAI requires); its alpha is decoded once, scaled to the output.
 */
export async function keepFromMask(mask: Uint8Array, image: { width: number; height: number }, width: number, height: number): Promise<KeepRect | null | undefined> {
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
