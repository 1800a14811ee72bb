/** The node's top-left corner in page coordinates. */
export function absolutePosition(node: SceneNode): { x: number; y: number } {
  const t = node.absoluteTransform;
  return { x: t[0][2], y: t[1][2] };
}
