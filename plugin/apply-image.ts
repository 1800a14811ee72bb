import { buildTileGroup } from './build-tile-group.ts';
import { findTilesGroup } from './find-tiles-group.ts';
import { imagePaint } from './image-paint.ts';
import { insertTileGroup } from './insert-tile-group.ts';
import type { Generation, ImageResult } from '../contract/index.ts';
import { GENERATION_KEY, readGeneration } from './read-generation.ts';
import { replaceGeneratedFill } from './replace-generated-fill.ts';
import { writeGeneration } from './write-generation.ts';

export type GenerationFields = Omit<Generation, 'version' | 'width' | 'height' | 'frameWidth' | 'frameHeight' | 'tiles' | 'imageHash' | 'createdAt'>;

/**
 * Puts `image` on `frame`, replacing the frame's previous generated image (fill or tile group):
 * one IMAGE fill when it is a single tile, else a locked group of tiles. `hashes` are the Figma images
 * of the tiles (createImages), made before anything changes so that a refused image changes nothing.
 * All or nothing: when a step fails, the frame gets back its fills, tiles and stored generation, and
 * the error is rethrown.
 */
export function applyImage(frame: FrameNode, image: ImageResult, hashes: readonly string[], fields: GenerationFields): Generation {
  const previous = readGeneration(frame);
  const oldGroup = findTilesGroup(frame);
  const tiled = image.tiles.length > 1;
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
  };
  const fills = frame.fills;
  const before = { clipsContent: frame.clipsContent, data: frame.getPluginData(GENERATION_KEY), relaunch: frame.getRelaunchData() };
  try {
    frame.fills = replaceGeneratedFill(fills, previous?.imageHash ?? null, imageHash ? imagePaint(imageHash) : null);
    if (group) insertTileGroup(frame, group, image);
    writeGeneration(frame, generation);
  } catch (error) {
    if (group && !group.removed) group.remove();
    frame.fills = fills;
    frame.clipsContent = before.clipsContent;
    frame.setPluginData(GENERATION_KEY, before.data);
    frame.setRelaunchData(before.relaunch);
    throw error;
  }
  // last, once nothing can fail: the old tiles go
  oldGroup?.remove();
  return generation;
}

function tileGroupName(image: ImageResult, fields: GenerationFields): string {
  const prompt = fields.prompt.length > 40 ? `${fields.prompt.slice(0, 39)}…` : fields.prompt;
  return `DyPE ${image.width}×${image.height} · seed ${fields.seed} · “${prompt}”`;
}
