/**
 * The picture a frame shows now, as Refine and Extend start from it: the image DyPE made (one IMAGE
 * fill, or its locked group of tiles) or, on any other frame, the topmost visible IMAGE fill the user
 * placed. Bytes come from figma.getImageByHash(hash).getBytesAsync(), as Figma holds them.
 */
import type { ImageResult, ImageTile } from '../runtime/contract/index.ts';
import { readGeneration } from './frame-record.ts';
import type { PictureNode } from './nodes.ts';
import { checkTiles, findTilesGroup } from './tiles.ts';

/** The IMAGE paint the frame's picture is: the generated one when it is still among the fills, else the topmost visible one. */
export function pictureFill(frame: PictureNode): ImagePaint | null {
  const fills = frame.fills;
  if (typeof fills === 'symbol') return null;
  const images = fills.filter((p): p is ImagePaint => p.type === 'IMAGE' && p.imageHash !== null && p.visible !== false);
  const generated = readGeneration(frame)?.imageHash;
  return images.find((p) => p.imageHash === generated) ?? images.at(-1) ?? null;
}

/** Pixel size of the frame's picture, or null when it shows none. */
export async function pictureSizeAsync(frame: PictureNode): Promise<{ width: number; height: number } | null> {
  const generation = readGeneration(frame);
  if (generation && generation.tiles > 1 && findTilesGroup(frame)) return { width: generation.width, height: generation.height };
  const paint = pictureFill(frame);
  const image = paint?.imageHash ? figma.getImageByHash(paint.imageHash) : null;
  return image ? image.getSizeAsync() : null;
}

export interface FramePicture {
  image: ImageResult;
  /** The fill a new image replaces (null: the picture is a tile group, which applyImage replaces). */
  replaces: string | null;
}

/** The frame's picture with its bytes, tile by tile; null when it shows none. */
export async function readPictureAsync(frame: PictureNode): Promise<FramePicture | null> {
  const generation = readGeneration(frame);
  const group = generation && generation.tiles > 1 ? findTilesGroup(frame) : null;
  if (group) return { image: await readTilesAsync(group), replaces: null };
  const paint = pictureFill(frame);
  const image = paint?.imageHash ? figma.getImageByHash(paint.imageHash) : null;
  if (!paint?.imageHash || !image) return null;
  const [bytes, size] = await Promise.all([image.getBytesAsync(), image.getSizeAsync()]);
  return { image: { ...size, tiles: [{ x: 0, y: 0, ...size, bytes }] }, replaces: paint.imageHash };
}

/**
 * A tile group's images with their pixel offsets in the whole picture. Figma keeps a group's children
 * in the coordinates of the frame around it, so a tile's offset is its distance from the group's
 * corner divided by its points per pixel.
 */
async function readTilesAsync(group: GroupNode): Promise<ImageResult> {
  const tiles: ImageTile[] = [];
  for (const child of group.children) {
    const fills = 'fills' in child ? child.fills : [];
    const paint = typeof fills === 'symbol' ? undefined : fills.find((p): p is ImagePaint => p.type === 'IMAGE' && p.imageHash !== null);
    const image = paint?.imageHash ? figma.getImageByHash(paint.imageHash) : null;
    if (!image) throw new Error(`The tile “${child.name}” has no image.`);
    const [bytes, size] = await Promise.all([image.getBytesAsync(), image.getSizeAsync()]);
    const pointsPerPixel = child.width / size.width;
    tiles.push({ x: Math.round((child.x - group.x) / pointsPerPixel), y: Math.round((child.y - group.y) / pointsPerPixel), ...size, bytes });
  }
  const width = Math.max(...tiles.map((t) => t.x + t.width));
  const height = Math.max(...tiles.map((t) => t.y + t.height));
  const image = { width, height, tiles };
  checkTiles(image);
  return image;
}
