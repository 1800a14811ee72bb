/** Settings live in figma.clientStorage (per user, per machine) and are always merged over the defaults. */
import type { Density, ImageFormat, Method, Settings } from './messages.ts';

const KEY = 'settings';

export const DEFAULT_SETTINGS: Settings = {
  companionUrl: 'http://127.0.0.1:7860',
  token: null,
  prompt: '',
  density: { kind: 'scale', scale: 2 },
  method: 'dy-yarn',
  steps: null,
  guidance: null,
  seed: 42,
  seedLocked: false,
  format: 'png',
};

const METHODS: readonly Method[] = ['dy-yarn', 'dy-ntk', 'dy-pi', 'yarn', 'ntk', 'pi', 'base'];
const FORMATS: readonly ImageFormat[] = ['png', 'jpg'];

/** Keeps the fields of `patch` that have the right type and drops the rest. */
export function cleanSettings(patch: Record<string, unknown>): Partial<Settings> {
  const out: Partial<Settings> = {};
  const p = patch;
  if (typeof p.companionUrl === 'string') out.companionUrl = p.companionUrl;
  if (p.token === null || typeof p.token === 'string') out.token = p.token;
  if (typeof p.prompt === 'string') out.prompt = p.prompt;
  if (isDensity(p.density)) out.density = p.density;
  if (typeof p.method === 'string' && (METHODS as readonly string[]).includes(p.method)) out.method = p.method as Method;
  if (p.steps === null || isPositiveInt(p.steps)) out.steps = p.steps;
  if (p.guidance === null || (typeof p.guidance === 'number' && Number.isFinite(p.guidance) && p.guidance >= 0)) out.guidance = p.guidance;
  if (isSeed(p.seed)) out.seed = p.seed;
  if (typeof p.seedLocked === 'boolean') out.seedLocked = p.seedLocked;
  if (typeof p.format === 'string' && (FORMATS as readonly string[]).includes(p.format)) out.format = p.format as ImageFormat;
  return out;
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

function isSeed(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 32 - 1;
}

export async function loadSettingsAsync(): Promise<Settings> {
  const stored: unknown = await figma.clientStorage.getAsync(KEY);
  const clean = typeof stored === 'object' && stored !== null ? cleanSettings(stored as Record<string, unknown>) : {};
  return { ...DEFAULT_SETTINGS, ...clean };
}

/** Merges `patch` over what is stored and saves; resolves with the settings now in effect. */
export async function saveSettingsAsync(patch: Partial<Settings>): Promise<Settings> {
  const next = { ...(await loadSettingsAsync()), ...cleanSettings(patch as Record<string, unknown>) };
  await figma.clientStorage.setAsync(KEY, next);
  return next;
}
