/**
 * Settings live in figma.clientStorage (per user, per machine) and are merged over the defaults
 * field by field, each field checked with the contract's settings schema.
 */
import { asLocalhost, type Settings, SettingsSchema, validFields } from '../runtime/contract/index.ts';
import { DEFAULT_SETTINGS } from './defaults.ts';

const KEY = 'settings';

export async function loadSettingsAsync(): Promise<Settings> {
  const stored = validFields(SettingsSchema, await figma.clientStorage.getAsync(KEY));
  const settings = { ...DEFAULT_SETTINGS, ...stored };
  const moved = asLocalhost(settings.companionUrl);
  if (moved === null) return settings;
  // saved before Figma's manifest rules were known: the UI can reach the companion only as localhost
  await figma.clientStorage.setAsync(KEY, { ...stored, companionUrl: moved });
  figma.notify(`DyPE now reaches the companion at ${moved} instead of ${settings.companionUrl}: Figma lets plugins reach this computer only as localhost.`, { timeout: 10000 });
  return { ...settings, companionUrl: moved };
}

/**
 * Merges `patch` over what is stored and saves; resolves with the settings now in effect. It reads, then
 * writes: callers must not run two at once (the controller chains them).
 */
export async function saveSettingsAsync(patch: Partial<Settings>): Promise<Settings> {
  const next = { ...(await loadSettingsAsync()), ...validFields(SettingsSchema, patch) };
  await figma.clientStorage.setAsync(KEY, next);
  return next;
}
