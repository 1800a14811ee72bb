/** The grid that cuts an image into tiles Figma can hold (no DOM: the plugin tests use it too). */
import { MAX_IMAGE_SIDE, type ImageTile } from '../runtime/contract/index.ts';

export type TileRect = Omit<ImageTile, 'bytes'>;

/** ceil(side / max) columns and rows of (nearly) equal size, row by row. */
export function tileRects(width: number, height: number, max = MAX_IMAGE_SIDE): TileRect[] {
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
