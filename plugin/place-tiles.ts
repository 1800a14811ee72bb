import type { ImageResult } from './messages.ts';
import { imagePaint } from './image-paint.ts';

/**
 * Covers `frame` with one image-filled rectangle per tile, scaled and centred like a FILL paint, in a
 * locked group at the bottom of the frame. `hashes[i]` is the Figma image of `image.tiles[i]`.
 */
export function placeTiles(frame: FrameNode, image: ImageResult, hashes: readonly string[], name: string): GroupNode {
  const scale = Math.max(frame.width / image.width, frame.height / image.height);
  const offsetX = (frame.width - image.width * scale) / 2;
  const offsetY = (frame.height - image.height * scale) / 2;
  const autoLayout = frame.layoutMode !== 'NONE';
  const rects = image.tiles.map((tile, i) => {
    const rect = figma.createRectangle();
    frame.appendChild(rect);
    if (autoLayout) rect.layoutPositioning = 'ABSOLUTE';
    rect.name = `Tile ${i + 1} · ${tile.width}×${tile.height} px at ${tile.x},${tile.y}`;
    rect.resize(tile.width * scale, tile.height * scale);
    rect.x = offsetX + tile.x * scale;
    rect.y = offsetY + tile.y * scale;
    rect.fills = [imagePaint(hashes[i])];
    return rect;
  });
  const group = figma.group(rects, frame, 0);
  if (autoLayout) group.layoutPositioning = 'ABSOLUTE';
  group.name = name;
  group.locked = true;
  frame.clipsContent = true;
  return group;
}
