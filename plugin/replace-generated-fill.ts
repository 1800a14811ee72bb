/**
 * A new fills array: the generated IMAGE paint (the one showing `previousHash`) replaced by `paint`,
 * or `paint` added on top when there was none; `paint` null removes it. Never mutates `fills`.
 */
export function replaceGeneratedFill(fills: ReadonlyArray<Paint> | PluginAPI['mixed'], previousHash: string | null, paint: Paint | null): Paint[] {
  const list: Paint[] = typeof fills === 'symbol' ? [] : [...fills];
  const index = previousHash === null ? -1 : list.findIndex((p) => p.type === 'IMAGE' && p.imageHash === previousHash);
  if (index >= 0) {
    if (paint) list[index] = paint;
    else list.splice(index, 1);
  } else if (paint) {
    list.push(paint);
  }
  return list;
}
