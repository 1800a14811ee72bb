import type { Generation } from '../contract/index.ts';
import { GENERATION_KEY } from './read-generation.ts';

/** Figma throws above 1000 characters; the panel shows about three lines. */
const MAX_DESCRIPTION = 1000;

/** Stores `generation` on the frame and offers "Regenerate" and "Open DyPE" in its properties panel. */
export function writeGeneration(frame: FrameNode, generation: Generation): void {
  frame.setPluginData(GENERATION_KEY, JSON.stringify(generation));
  frame.setRelaunchData({ regenerate: relaunchDescription(generation), open: '' });
}

export function relaunchDescription(g: Generation): string {
  const tail = ` · seed ${g.seed} · ${g.width}×${g.height} px`;
  const room = MAX_DESCRIPTION - tail.length - 2;
  const prompt = g.prompt.length > room ? `${g.prompt.slice(0, room - 1)}…` : g.prompt;
  return `“${prompt}”${tail}`;
}
