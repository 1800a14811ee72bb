/** pluginData key on a tile group; its value is the id of the job that made the tiles. */
export const TILES_KEY = 'tiles';

/**
 * The frame's own tile group: a direct child that carries the "tiles" mark. The mark sits on the group
 * itself, so a duplicated frame (Cmd+D, clone) finds its copy of the group, not the original's.
 */
export function findTilesGroup(frame: FrameNode): GroupNode | null {
  for (const child of frame.children) {
    if (child.type === 'GROUP' && child.getPluginData(TILES_KEY) !== '') return child;
  }
  return null;
}
