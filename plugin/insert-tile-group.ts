import { fillLayout } from './fill-layout.ts';
import type { ImageResult } from '../contract/index.ts';

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
