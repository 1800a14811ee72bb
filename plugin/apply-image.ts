import { findChild } from './find-child.ts';
import { imagePaint } from './image-paint.ts';
import type { Generation, ImageResult } from './messages.ts';
import { placeTiles } from './place-tiles.ts';
import { readGeneration } from './read-generation.ts';
import { replaceGeneratedFill } from './replace-generated-fill.ts';
import { writeGeneration } from './write-generation.ts';

export type GenerationFields = Omit<Generation, 'version' | 'width' | 'height' | 'frameWidth' | 'frameHeight' | 'tiles' | 'imageHash' | 'tilesGroupId' | 'createdAt'>;

/**
 * Puts `image` on `frame`, replacing the frame's previous generated image (fill or tile group):
 * one IMAGE fill when it is a single tile, else a locked group of tiles. `hashes` are the Figma images
 * of the tiles (createImages), made before anything changes so that a refused image changes nothing.
 */
export function applyImage(frame: FrameNode, image: ImageResult, hashes: readonly string[], fields: GenerationFields): Generation {
  const previous = readGeneration(frame);
  const oldGroup = findChild(frame, previous?.tilesGroupId ?? null);
  const tiled = image.tiles.length > 1;
  const imageHash = tiled ? null : hashes[0];
  frame.fills = replaceGeneratedFill(frame.fills, previous?.imageHash ?? null, imageHash ? imagePaint(imageHash) : null);
  oldGroup?.remove();
  const group = tiled ? placeTiles(frame, image, hashes, tileGroupName(image, fields)) : null;
  const generation: Generation = {
    ...fields,
    version: 1,
    width: image.width,
    height: image.height,
    frameWidth: frame.width,
    frameHeight: frame.height,
    tiles: image.tiles.length,
    imageHash,
    tilesGroupId: group?.id ?? null,
    createdAt: new Date().toISOString(),
  };
  writeGeneration(frame, generation);
  return generation;
}

function tileGroupName(image: ImageResult, fields: GenerationFields): string {
  const prompt = fields.prompt.length > 40 ? `${fields.prompt.slice(0, 39)}…` : fields.prompt;
  return `DyPE ${image.width}×${image.height} · seed ${fields.seed} · “${prompt}”`;
}
