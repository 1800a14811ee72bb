/** Settings live in figma.clientStorage (per user, per machine) and are always merged over the defaults. */
import { DEFAULT_SETTINGS } from './default-settings.ts';
import { SettingsSchema, validFields, type Settings } from '../contract/index.ts';

export { DEFAULT_SETTINGS };

const KEY = 'settings';

export async function loadSettingsAsync(): Promise<Settings> {
  const stored: unknown = await figma.clientStorage.getAsync(KEY);
  return { ...DEFAULT_SETTINGS, ...validFields(SettingsSchema, stored) };
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
