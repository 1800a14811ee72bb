/**
 * The main thread's typed message pair: `emit` posts to the UI, `on` registers a handler for a UI
 * message. Messages that are not well formed are dropped; a well-formed message nobody handles throws.
 */
import type { MainToUi, MainToUiOf, MainToUiType, PayloadOf, UiToMain, UiToMainOf, UiToMainType } from './messages.ts';
import { isDensity, isDypeExponent, isDypeScale, isFormat, isGuidance, isMethod, isSeed, isSteps } from './settings.ts';

type Check = (m: Record<string, unknown>) => boolean;

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isImage(v: unknown): boolean {
  if (!isObject(v) || !isNumber(v.width) || !isNumber(v.height) || !Array.isArray(v.tiles) || v.tiles.length === 0) return false;
  return v.tiles.every((t) => isObject(t) && isNumber(t.x) && isNumber(t.y) && isNumber(t.width) && isNumber(t.height) && t.bytes instanceof Uint8Array);
}

function isMeta(v: unknown): boolean {
  if (!isObject(v) || !isString(v.jobId) || !isString(v.prompt) || !isString(v.model)) return false;
  return isSeed(v.seed) && isNumber(v.steps) && isGuidance(v.guidance) && isMethod(v.method) && isFormat(v.format) && isDypeScale(v.dypeScale) && isDypeExponent(v.dypeExponent);
}

function isGenerationParams(v: unknown): boolean {
  if (!isObject(v) || !isString(v.prompt)) return false;
  return isMethod(v.method) && isSteps(v.steps) && isGuidance(v.guidance) && isDypeScale(v.dypeScale) && isDypeExponent(v.dypeExponent) && isSeed(v.seed) && isFormat(v.format) && isDensity(v.density);
}

/** One check per UI → main message; the keys are every name the UI may send. */
const UI_MESSAGES: Record<UiToMainType, Check> = {
  ready: () => true,
  'save-settings': (m) => isObject(m.patch),
  limits: (m) => m.limits === null || (isObject(m.limits) && isNumber(m.limits.maxSide) && isNumber(m.limits.minSide) && isNumber(m.limits.maxPixels)),
  generate: (m) => isGenerationParams(m.params),
  regenerate: (m) => Array.isArray(m.nodeIds) && m.nodeIds.every(isString),
  'job-preview': (m) => isString(m.jobId) && m.png instanceof Uint8Array,
  'job-result': (m) => isString(m.jobId) && isMeta(m.meta) && isImage(m.image),
  'job-ended': (m) => isString(m.jobId) && (m.outcome === 'cancelled' || m.outcome === 'failed') && isString(m.message),
  reapply: (m) => isMeta(m.meta) && isImage(m.image),
  notify: (m) => isString(m.message),
};

type Handler<K extends UiToMainType> = (message: UiToMainOf<K>) => void | Promise<void>;

const handlers = new Map<UiToMainType, (message: UiToMain) => void | Promise<void>>();

/** Registers the handler for one UI message (one per name; a second replaces the first). */
export function on<K extends UiToMainType>(name: K, handler: Handler<K>): void {
  handlers.set(name, handler as unknown as (message: UiToMain) => void | Promise<void>);
}

/** Posts a message to the UI. */
export function emit<K extends MainToUiType>(name: K, payload: PayloadOf<MainToUiOf<K>>): void {
  const message = { type: name, ...payload } as unknown as MainToUi;
  figma.ui.postMessage(message);
}

/** True for `{type, ...}` objects whose type is a UI message name and whose payload has the right shape. */
export function isUiMessage(value: unknown): value is UiToMain {
  if (!isObject(value) || !isString(value.type) || !Object.prototype.hasOwnProperty.call(UI_MESSAGES, value.type)) return false;
  return UI_MESSAGES[value.type as UiToMainType](value);
}

/** Routes one incoming message; returns the handler's promise so callers (and tests) can await it. */
export function dispatch(value: unknown): Promise<void> {
  if (!isUiMessage(value)) return Promise.resolve();
  const handler = handlers.get(value.type);
  if (!handler) throw new Error(`No handler for the UI message "${value.type}".`);
  return Promise.resolve(handler(value));
}

/** Starts listening to the UI. */
export function listen(): void {
  figma.ui.onmessage = (message: unknown) => dispatch(message);
}
