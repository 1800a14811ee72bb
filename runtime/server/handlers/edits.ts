/**
 * POST /v1/images/edits, OpenAI-compatible: multipart `image` (any size), optional `mask` (OpenAI's
 * semantics: fully transparent pixels are the area to generate), `prompt`, `size`, `n`,
 * `response_format`. The image becomes an upload and the job's `init`; an opaque rectangle in the mask
 * becomes the job's `keep` rectangle (Extend), scaled to the output.
 */
import sharp from 'sharp';
import type { KeepRect } from '../../contract/index.ts';
import { ApiError } from '../errors.ts';
import { readMultipart } from '../multipart.ts';
import { parseOrThrow, type Limits } from '../schemas.ts';
import { inspectImage } from '../uploads.ts';
import { answerOpenAi, requireB64Json } from './openai.ts';
import { defaultSize, requireImageToImage, resolveParams, type Handler, type Services } from './context.ts';

/** Longest text field: a prompt of 2000 characters of up to 4 UTF-8 bytes, with room to spare. */
const MAX_FIELD_BYTES = 16 * 1024;
/** Feather of a keep rectangle from a mask: this fraction of its shorter side, at most MAX_MASK_FEATHER px. */
const MASK_FEATHER_FRACTION = 1 / 8;
const MAX_MASK_FEATHER = 32;

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
    const keep = files.mask ? await keepFromMask(files.mask, width, height) : undefined;
    const upload = await uploads.save(files.image, image);
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
 * The keep rectangle a mask describes, in output pixels: the bounding box of its pixels that are not
 * fully transparent, which must fill it (only rectangular keep regions are supported). undefined when
 * the whole mask is kept (plain image-to-image); null when nothing is (everything generated).
 */
export async function keepFromMask(mask: Uint8Array, width: number, height: number): Promise<KeepRect | null | undefined> {
  await inspectImage(mask);
  const { data, info } = await sharp(mask).ensureAlpha().extractChannel(3).raw().toBuffer({ resolveWithObject: true });
  const [mw, mh] = [info.width, info.height];
  let [x0, y0, x1, y1] = [mw, mh, -1, -1];
  for (let y = 0; y < mh; y++) {
    for (let x = 0; x < mw; x++) {
      if (data[y * mw + x] === 0) continue;
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  if (x1 < 0) return null;
  if (x0 === 0 && y0 === 0 && x1 === mw - 1 && y1 === mh - 1) {
    if (data.includes(0)) throw notRectangle();
    return undefined;
  }
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) if (data[y * mw + x] === 0) throw notRectangle();
  const left = Math.round((x0 * width) / mw);
  const top = Math.round((y0 * height) / mh);
  const right = Math.round(((x1 + 1) * width) / mw);
  const bottom = Math.round(((y1 + 1) * height) / mh);
  const feather = Math.min(MAX_MASK_FEATHER, Math.floor(Math.min(right - left, bottom - top) * MASK_FEATHER_FRACTION));
  return { x: left, y: top, width: right - left, height: bottom - top, feather };
}

function notRectangle(): ApiError {
  return new ApiError('invalid_field', 'mask: the kept (not fully transparent) pixels must form one rectangle; this companion extends images, it does not inpaint arbitrary shapes.', { field: 'mask' });
}
