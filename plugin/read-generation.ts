import { GenerationSchema, type Generation } from '../contract/index.ts';

export const GENERATION_KEY = 'generation';

/** The generation stored on `node`, or null when there is none or it cannot be read. */
export function readGeneration(node: BaseNode): Generation | null {
  const raw = node.getPluginData(GENERATION_KEY);
  if (!raw) return null;
  try {
    const parsed = GenerationSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
