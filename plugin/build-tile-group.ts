import { fillLayout } from './fill-layout.ts';
import { TILES_KEY } from './find-tiles-group.ts';
import { imagePaint } from './image-paint.ts';
import type { ImageResult } from '../contract/index.ts';

/**
 * One image-filled rectangle per tile, sized for a `width` × `height` frame, in a locked group marked
 * with `jobId`. The group is built outside the frame (on the current page), so that a failure half way
 * leaves the frame untouched; it then removes what it made and rethrows. `hashes[i]` shows `image.tiles[i]`.
 */
export function buildTileGroup(width: number, height: number, image: ImageResult, hashes: readonly string[], name: string, jobId: string): GroupNode {
  const { scale } = fillLayout(width, height, image.width, image.height);
  const rects: RectangleNode[] = [];
  try {
    for (const [i, tile] of image.tiles.entries()) {
      const rect = figma.createRectangle();
      rects.push(rect);
      rect.name = `Tile ${i + 1} · ${tile.width}×${tile.height} px at ${tile.x},${tile.y}`;
      rect.resize(tile.width * scale, tile.height * scale);
      rect.x = tile.x * scale;
      rect.y = tile.y * scale;
      rect.fills = [imagePaint(hashes[i])];
    }
    const group = figma.group(rects, figma.currentPage);
    group.name = name;
    group.locked = true;
    group.setPluginData(TILES_KEY, jobId);
    return group;
  } catch (error) {
    // removing a group's last child removes the group too
    for (const rect of rects) if (!rect.removed) rect.remove();
    throw error;
  }
}
