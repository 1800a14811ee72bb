/**
 * Placing a result image: one IMAGE fill, or a locked group of ≤ 4096 px tiles, replacing fills
 * rather than mutating them, and undoing a half-done placement.
 */
import { type Generation, type ImageResult, MAX_IMAGE_SIDE } from '../runtime/contract/index.ts';
import { GENERATION_KEY, readGeneration, writeGeneration } from './frame-record.ts';
import type { PictureNode } from './nodes.ts';

/** An IMAGE paint that covers its layer (FILL), cropping what does not fit. */
export function imagePaint(imageHash: string): ImagePaint {
  return { type: 'IMAGE', scaleMode: 'FILL', imageHash };
}

/** Scale and offset (in frame points) that cover a width × height frame with an image the way a FILL paint does: scaled to cover, centred. */
export function fillLayout(frameWidth: number, frameHeight: number, imageWidth: number, imageHeight: number): { scale: number; x: number; y: number } {
  const scale = Math.max(frameWidth / imageWidth, frameHeight / imageHeight);
  return { scale, x: (frameWidth - imageWidth * scale) / 2, y: (frameHeight - imageHeight * scale) / 2 };
}

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

/** Figma images for every tile, in order (Figma throws on an image above 4096 px or one it cannot read). */
export function createImages(image: ImageResult): string[] {
  checkTiles(image);
  return image.tiles.map((tile) => figma.createImage(tile.bytes).hash);
}

/** pluginData key on a tile group; its value is the id of the job that made the tiles. */
export const TILES_KEY = 'tiles';

/**
 * The frame's own tile group: a direct child that carries the "tiles" mark. The mark sits on the group
 * itself, so a duplicated frame (Cmd+D, clone) finds its copy of the group, not the original's.
 */
export function findTilesGroup(frame: PictureNode): GroupNode | null {
  if (frame.type !== 'FRAME') return null;
  for (const child of frame.children) {
    if (child.type === 'GROUP' && child.getPluginData(TILES_KEY) !== '') return child;
  }
  return null;
}

/** Moves a tile group (buildTileGroup) to the bottom of `frame`, where it covers the frame like a FILL paint, and clips the frame. */
export function insertTileGroup(frame: FrameNode, group: GroupNode, image: ImageResult): void {
  const { x, y } = fillLayout(frame.width, frame.height, image.width, image.height);
  frame.insertChild(0, group);
  if (frame.layoutMode !== 'NONE') group.layoutPositioning = 'ABSOLUTE';
  // auto layout moved the group into its flow when it was inserted; put it where it covers the frame
  group.x = x;
  group.y = y;
  frame.clipsContent = true;
}

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

/**
 * A new fills array: the IMAGE paint showing `previousHash` (ours, or the picture a Refine started
 * from) replaced by `paint`, or `paint` added on top when there was none; `paint` null removes it.
 * An image replacing an image keeps the old paint's settings (scale mode, crop, filters, opacity) and
 * takes the new hash. Never mutates `fills`.
 */
export function replaceGeneratedFill(fills: ReadonlyArray<Paint> | PluginAPI['mixed'], previousHash: string | null, paint: Paint | null): Paint[] {
  const list: Paint[] = typeof fills === 'symbol' ? [] : [...fills];
  const index = previousHash === null ? -1 : list.findIndex((p) => p.type === 'IMAGE' && p.imageHash === previousHash);
  if (index >= 0) {
    const old = list[index];
    if (paint) list[index] = paint.type === 'IMAGE' && old.type === 'IMAGE' ? { ...old, imageHash: paint.imageHash } : paint;
    else list.splice(index, 1);
  } else if (paint) {
    list.push(paint);
  }
  return list;
}

export type GenerationFields = Omit<Generation, 'version' | 'width' | 'height' | 'frameWidth' | 'frameHeight' | 'tiles' | 'imageHash' | 'createdAt'>;

/**
 * Puts `image` on `frame`, replacing the frame's previous generated image (fill or tile group):
 * one IMAGE fill when it is a single tile, else a locked group of tiles. `hashes` are the Figma images
 * of the tiles (createImages), made before anything changes so that a refused image changes nothing.
 * All or nothing: when a step fails, the frame gets back its fills, tiles and stored generation, and
 * the error is rethrown. `replaces`: the fill the image takes the place of (default: the frame's
 * previous generated image; a Refine of a user's picture names that picture's).
 */
export function applyImage(frame: PictureNode, image: ImageResult, hashes: readonly string[], fields: GenerationFields, replaces?: string | null): Generation {
  const previous = readGeneration(frame);
  const oldGroup = findTilesGroup(frame);
  const tiled = image.tiles.length > 1;
  if (tiled && frame.type !== 'FRAME') throw new Error(tilesNeedAFrame(frame.name, image));
  const imageHash = tiled ? null : hashes[0];
  const group = tiled ? buildTileGroup(frame.width, frame.height, image, hashes, tileGroupName(image, fields), fields.jobId) : null;
  const generation: Generation = {
    ...fields,
    version: 1,
    width: image.width,
    height: image.height,
    frameWidth: frame.width,
    frameHeight: frame.height,
    tiles: image.tiles.length,
    imageHash,
    createdAt: new Date().toISOString(),
    frameX: frame.x,
    frameY: frame.y,
  };
  const fills = frame.fills;
  const before = { clipsContent: frame.type === 'FRAME' && frame.clipsContent, data: frame.getPluginData(GENERATION_KEY), relaunch: frame.getRelaunchData() };
  try {
    frame.fills = replaceGeneratedFill(fills, replaces === undefined ? (previous?.imageHash ?? null) : replaces, imageHash ? imagePaint(imageHash) : null);
    if (group && frame.type === 'FRAME') insertTileGroup(frame, group, image);
    writeGeneration(frame, generation);
  } catch (error) {
    if (group && !group.removed) group.remove();
    frame.fills = fills;
    if (frame.type === 'FRAME') frame.clipsContent = before.clipsContent;
    frame.setPluginData(GENERATION_KEY, before.data);
    frame.setRelaunchData(before.relaunch);
    throw error;
  }
  // last, once nothing can fail: the old tiles go
  oldGroup?.remove();
  return generation;
}

/** Why a result above MAX_IMAGE_SIDE cannot go onto a rectangle. */
export function tilesNeedAFrame(name: string, size: { width: number; height: number }): string {
  return `“${name}” is a rectangle, which holds one image of at most ${MAX_IMAGE_SIDE} px per side, so its ${size.width}×${size.height} px image cannot be placed as tiles. Choose a smaller size, or put the picture in a frame.`;
}

function tileGroupName(image: ImageResult, fields: GenerationFields): string {
  const prompt = fields.prompt.length > 40 ? `${fields.prompt.slice(0, 39)}…` : fields.prompt;
  return `DyPE ${image.width}×${image.height} · seed ${fields.seed} · “${prompt}”`;
}
