import type { GenerationMethod } from '../runtime/contract/index.ts';

/** What the advanced menu says about each method (the contract's GENERATION_METHODS gives the order). */
export const METHOD_INFO: Readonly<Record<GenerationMethod, { label: string; help: string }>> = {
  'dy-yarn': { label: 'DyPE-YaRN (recommended)', help: 'Re-tunes positions every step with YaRN: coarse layout first, then fine detail. Best at high resolution.' },
  'dy-vision-yarn': { label: 'DyPE Vision-YaRN', help: 'YaRN per image axis with one shared NTK scale: keeps structure on wide banners, tall posters and phone screens.' },
  'dy-ntk': { label: 'DyPE-NTK', help: 'Dynamic NTK-aware scaling: smooth results, slightly softer fine detail than DyPE-YaRN.' },
  'dy-pi': { label: 'DyPE-PI', help: 'Dynamic position interpolation: the simplest DyPE variant; can blur the finest detail.' },
  yarn: { label: 'YaRN (static)', help: 'The same YaRN scaling at every step: good layout, less crisp detail than DyPE.' },
  ntk: { label: 'NTK (static)', help: 'Static NTK-aware scaling: a common baseline for extending context.' },
  pi: { label: 'PI (static)', help: 'Static position interpolation: squeezes positions into the trained range; soft at large sizes.' },
  base: { label: 'No extrapolation', help: 'The model as trained: above its native size it repeats objects and patterns.' },
};
