import { checkTiles } from './check-tiles.ts';
import type { ImageResult } from '../contract/index.ts';

/** Figma images for every tile, in order (Figma throws on an image above 4096 px or one it cannot read). */
export function createImages(image: ImageResult): string[] {
  checkTiles(image);
  return image.tiles.map((tile) => figma.createImage(tile.bytes).hash);
}
