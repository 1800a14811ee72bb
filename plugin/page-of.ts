/** The page `node` is on, or null when it is not on one (removed). */
export function pageOf(node: BaseNode): PageNode | null {
  let parent = node.parent;
  while (parent && parent.type !== 'PAGE') parent = parent.parent;
  return parent;
}
