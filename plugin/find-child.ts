/** The direct child of `frame` with this id, or null. */
export function findChild(frame: FrameNode, id: string | null): SceneNode | null {
  if (id === null) return null;
  return frame.children.find((child) => child.id === id) ?? null;
}
