/**
 * The bytes a Refine or Extend job uploads: the frame's picture as the main thread read it from Figma,
 * its tiles stitched back into one image (a result above MAX_IMAGE_SIDE px was placed as tiles) and
 * the part to keep cut out, on a canvas. A picture that is one tile, wholly kept, in a type the
 * companion takes goes as it is.
 */
import type { InitImage, UploadMimeType } from '../runtime/contract/index.ts';

/** The image type of `bytes` from their signature, or null when it is none the companion takes. */
export function uploadType(bytes: Uint8Array): UploadMimeType | null {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes[0] === 0x89 && ascii(1, 4) === 'PNG') return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return null;
}

/** The bytes as a view of an ArrayBuffer (what postMessage delivers), copied only when they are not. */
function ownBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

/** One image to upload for `init`: stitched, cropped, and encoded as PNG unless it can go as it is. */
export async function initUploadBytes(init: InitImage): Promise<{ bytes: Uint8Array<ArrayBuffer>; type: UploadMimeType }> {
  const { image, crop } = init;
  const whole = crop === null || (crop.x === 0 && crop.y === 0 && crop.width === image.width && crop.height === image.height);
  if (image.tiles.length === 1 && whole) {
    const bytes = ownBytes(image.tiles[0].bytes);
    const type = uploadType(bytes);
    if (type) return { bytes, type };
  }
  const area = crop ?? { x: 0, y: 0, width: image.width, height: image.height };
  const canvas = new OffscreenCanvas(area.width, area.height);
  const context = canvas.getContext('2d');
  if (!context) throw new Error('This browser cannot prepare the picture for upload (no 2D canvas).');
  for (const tile of image.tiles) {
    // only tiles that overlap the kept part are decoded
    if (tile.x >= area.x + area.width || tile.y >= area.y + area.height || tile.x + tile.width <= area.x || tile.y + tile.height <= area.y) continue;
    const bitmap = await createImageBitmap(new Blob([ownBytes(tile.bytes)]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    try {
      context.drawImage(bitmap, tile.x - area.x, tile.y - area.y, tile.width, tile.height);
    } finally {
      bitmap.close();
    }
  }
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return { bytes: new Uint8Array(await blob.arrayBuffer()), type: 'image/png' };
}
