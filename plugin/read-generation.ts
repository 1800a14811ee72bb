import type { Generation } from './messages.ts';

export const GENERATION_KEY = 'generation';

/** The generation stored on `node`, or null when there is none or it cannot be read. */
export function readGeneration(node: BaseNode): Generation | null {
  const raw = node.getPluginData(GENERATION_KEY);
  if (!raw) return null;
  try {
    const value = JSON.parse(raw) as Partial<Generation> | null;
    if (!value || value.version !== 1 || typeof value.prompt !== 'string' || typeof value.seed !== 'number') return null;
    if (typeof value.frameWidth !== 'number' || typeof value.frameHeight !== 'number' || typeof value.width !== 'number' || typeof value.height !== 'number') return null;
    return value as Generation;
  } catch {
    return null;
  }
}
