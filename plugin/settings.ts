/**
 * Settings live in figma.clientStorage (per user, per machine) and are merged over the defaults
 * field by field, each field checked with the contract's settings schema.
 */
import { type Settings, SettingsSchema, validFields } from '../runtime/contract/index.ts';
import { DEFAULT_SETTINGS } from './defaults.ts';

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
