/** Settings live in figma.clientStorage (per user, per machine) and are always merged over the defaults. */
import { DEFAULT_SETTINGS } from './default-settings.ts';
import { IMAGE_FORMATS, MAX_DYPE_EXPONENT, MAX_DYPE_SCALE, METHODS, type Density, type DypeExponent, type ImageFormat, type Method, type Settings } from './messages.ts';

export { DEFAULT_SETTINGS };

const KEY = 'settings';

/** Keeps the fields of `patch` that have the right type and drops the rest. */
export function cleanSettings(patch: Record<string, unknown>): Partial<Settings> {
  const out: Partial<Settings> = {};
  const p = patch;
  if (typeof p.companionUrl === 'string') out.companionUrl = p.companionUrl;
  if (p.token === null || typeof p.token === 'string') out.token = p.token;
  if (typeof p.prompt === 'string') out.prompt = p.prompt;
  if (isDensity(p.density)) out.density = p.density;
  if (isMethod(p.method)) out.method = p.method;
  if (isSteps(p.steps)) out.steps = p.steps;
  if (isGuidance(p.guidance)) out.guidance = p.guidance;
  if (isDypeScale(p.dypeScale)) out.dypeScale = p.dypeScale;
  if (isDypeExponent(p.dypeExponent)) out.dypeExponent = p.dypeExponent;
  if (isSeed(p.seed)) out.seed = p.seed;
  if (typeof p.seedLocked === 'boolean') out.seedLocked = p.seedLocked;
  if (isFormat(p.format)) out.format = p.format;
  return out;
}

export function isMethod(v: unknown): v is Method {
  return typeof v === 'string' && (METHODS as readonly string[]).includes(v);
}

export function isFormat(v: unknown): v is ImageFormat {
  return typeof v === 'string' && (IMAGE_FORMATS as readonly string[]).includes(v);
}

/** null: the model's default. */
export function isSteps(v: unknown): v is number | null {
  return v === null || isPositiveInt(v);
}

/** null: the model's default. */
export function isGuidance(v: unknown): v is number | null {
  return v === null || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
}

const inRange = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= max;

/** null: the model's default. */
export function isDypeScale(v: unknown): v is number | null {
  return v === null || inRange(v, MAX_DYPE_SCALE);
}

/** null: the model's default. */
export function isDypeExponent(v: unknown): v is DypeExponent | null {
  return v === null || v === 'auto' || inRange(v, MAX_DYPE_EXPONENT);
}

export function isDensity(value: unknown): value is Density {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Record<string, unknown>;
  if (d.kind === 'scale') return typeof d.scale === 'number' && d.scale > 0 && d.scale <= 16;
  if (d.kind === 'longest') return isPositiveInt(d.px);
  return false;
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

export function isSeed(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 32 - 1;
}

export async function loadSettingsAsync(): Promise<Settings> {
  const stored: unknown = await figma.clientStorage.getAsync(KEY);
  const clean = typeof stored === 'object' && stored !== null ? cleanSettings(stored as Record<string, unknown>) : {};
  return { ...DEFAULT_SETTINGS, ...clean };
}

/**
 * Merges `patch` over what is stored and saves; resolves with the settings now in effect. It reads, then
 * writes: callers must not run two at once (the controller chains them).
 */
export async function saveSettingsAsync(patch: Partial<Settings>): Promise<Settings> {
  const next = { ...(await loadSettingsAsync()), ...cleanSettings(patch as Record<string, unknown>) };
  await figma.clientStorage.setAsync(KEY, next);
  return next;
}
