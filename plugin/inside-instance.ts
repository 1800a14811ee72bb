/** True when `node` is a layer inside a component instance, where Figma allows no new layers (appendChild throws). */
export function insideInstance(node: SceneNode): boolean {
  for (let parent = node.parent; parent && parent.type !== 'PAGE'; parent = parent.parent) {
    if (parent.type === 'INSTANCE') return true;
  }
  return false;
}
