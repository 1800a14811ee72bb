/**
 * Figma holds images of at most 4096 px per side, so larger results are cut into a grid of tiles here
 * (the main thread has no DOM to decode images with). Tiles are as equal as possible.
 */
import type { ImageResult, ImageTile } from '../plugin/messages.ts';

export const MAX_TILE_SIDE = 4096;

export type TileRect = Omit<ImageTile, 'bytes'>;

/** The grid: ceil(side / max) columns and rows of (nearly) equal size, row by row. */
export function tileRects(width: number, height: number, max = MAX_TILE_SIDE): TileRect[] {
  const cols = Math.ceil(width / max);
  const rows = Math.ceil(height / max);
  const tw = Math.ceil(width / cols);
  const th = Math.ceil(height / rows);
  const rects: TileRect[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = c * tw;
      const y = r * th;
      rects.push({ x, y, width: Math.min(tw, width - x), height: Math.min(th, height - y) });
    }
  }
  return rects;
}

/** The image as one tile when it fits, else decoded once and re-encoded tile by tile (PNG, or JPEG for JPEG). */
export async function tileImage(bytes: Uint8Array, mimeType: string, width: number, height: number): Promise<ImageResult> {
  if (width <= MAX_TILE_SIDE && height <= MAX_TILE_SIDE) return { width, height, tiles: [{ x: 0, y: 0, width, height, bytes }] };
  const bitmap = await createImageBitmap(new Blob([bytes.slice().buffer], { type: mimeType }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
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
