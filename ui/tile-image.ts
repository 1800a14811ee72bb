/**
 * Figma holds images of at most MAX_IMAGE_SIDE px per side, so larger results are cut into a grid of
 * tiles here (the main thread has no DOM to decode images with). Tiles are as equal as possible.
 */
import { MAX_IMAGE_SIDE, type ImageResult, type ImageTile } from '../runtime/contract/index.ts';
import { tileRects } from './tile-rects.ts';

/** The image as one tile when it fits, else decoded once and re-encoded tile by tile (PNG, or JPEG for JPEG). */
export async function tileImage(bytes: Uint8Array<ArrayBuffer>, mimeType: string, width: number, height: number): Promise<ImageResult> {
  if (width <= MAX_IMAGE_SIDE && height <= MAX_IMAGE_SIDE) return { width, height, tiles: [{ x: 0, y: 0, width, height, bytes }] };
  // the Blob refers to the bytes; no copy of a possibly 200 MB image
  const bitmap = await createImageBitmap(new Blob([bytes], { type: mimeType }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    if (bitmap.width !== width || bitmap.height !== height) {
      throw new Error(`The companion said ${width}×${height} px but sent a ${bitmap.width}×${bitmap.height} image.`);
    }
    const type = mimeType === 'image/jpeg' ? 'image/jpeg' : 'image/png';
    const tiles: ImageTile[] = [];
    for (const rect of tileRects(width, height)) {
      const canvas = new OffscreenCanvas(rect.width, rect.height);
      const context = canvas.getContext('2d');
      if (!context) throw new Error('This browser cannot cut the image into tiles (no 2D canvas).');
      context.drawImage(bitmap, rect.x, rect.y, rect.width, rect.height, 0, 0, rect.width, rect.height);
      const blob = await canvas.convertToBlob({ type, quality: 0.95 });
      tiles.push({ ...rect, bytes: new Uint8Array(await blob.arrayBuffer()) });
    }
    return { width, height, tiles };
  } finally {
    bitmap.close();
  }
}

/** base64 (as the companion sends previews) → bytes. */
export function base64Bytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
