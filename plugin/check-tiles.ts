import type { ImageResult } from '../contract/index.ts';

/** Throws a plain-words error unless the tiles lie inside the image and cover it exactly. */
export function checkTiles(image: ImageResult): void {
  let area = 0;
  for (const t of image.tiles) {
    const inside = t.x >= 0 && t.y >= 0 && t.width > 0 && t.height > 0 && t.x + t.width <= image.width && t.y + t.height <= image.height;
    if (!inside) throw new Error(`An image tile (${t.width}×${t.height} at ${t.x},${t.y}) lies outside the ${image.width}×${image.height} image.`);
    area += t.width * t.height;
  }
  if (area !== image.width * image.height) throw new Error(`The image tiles do not cover the ${image.width}×${image.height} image exactly.`);
}
