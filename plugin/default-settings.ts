import { COMPANION_ORIGINS, type Settings } from './messages.ts';

/** What the settings are until the user changes them (kept apart from settings.ts, which needs the figma global). */
export const DEFAULT_SETTINGS: Settings = {
  companionUrl: COMPANION_ORIGINS[0],
  token: null,
  prompt: '',
  density: { kind: 'scale', scale: 2 },
  method: 'dy-yarn',
  steps: null,
  guidance: null,
  dypeScale: null,
  dypeExponent: null,
  seed: 42,
  seedLocked: false,
  format: 'png',
};
