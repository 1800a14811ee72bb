import type { Method } from '../plugin/messages.ts';

/** The methods in the order the advanced menu lists them, each with a one-line explanation. */
export const METHODS: readonly { id: Method; label: string; help: string }[] = [
  { id: 'dy-yarn', label: 'DyPE-YaRN (recommended)', help: 'Re-tunes positions every step with YaRN: coarse layout first, then fine detail. Best at high resolution.' },
  { id: 'dy-ntk', label: 'DyPE-NTK', help: 'Dynamic NTK-aware scaling: smooth results, slightly softer fine detail than DyPE-YaRN.' },
  { id: 'dy-pi', label: 'DyPE-PI', help: 'Dynamic position interpolation: the simplest DyPE variant; can blur the finest detail.' },
  { id: 'yarn', label: 'YaRN (static)', help: 'The same YaRN scaling at every step: good layout, less crisp detail than DyPE.' },
  { id: 'ntk', label: 'NTK (static)', help: 'Static NTK-aware scaling: a common baseline for extending context.' },
  { id: 'pi', label: 'PI (static)', help: 'Static position interpolation: squeezes positions into the trained range; soft at large sizes.' },
  { id: 'base', label: 'No extrapolation', help: 'The model as trained: above its native size it repeats objects and patterns.' },
];

export function methodInfo(id: Method) {
  return METHODS.find((m) => m.id === id) ?? METHODS[0];
}
