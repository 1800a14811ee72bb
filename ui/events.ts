/**
 * The UI's typed message pair: `emit` posts to the main thread, `on` registers a handler for a main
 * thread message. Messages that are not well formed are dropped; a well-formed message nobody handles throws.
 */
import type { MainToUi, MainToUiOf, MainToUiType, PayloadOf, UiToMainOf, UiToMainType } from '../plugin/messages.ts';

type Check = (m: Record<string, unknown>) => boolean;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';

/** One check per main → UI message; the keys are every name the main thread may send. */
const MAIN_MESSAGES: Record<MainToUiType, Check> = {
  settings: (m) => isObject(m.settings) && isString(m.settings.companionUrl) && (m.testOrigins === undefined || (Array.isArray(m.testOrigins) && m.testOrigins.every(isString))),
  selection: (m) => isObject(m.selection) && Array.isArray(m.selection.frames),
  outdated: (m) => Array.isArray(m.frames),
  'start-jobs': (m) => Array.isArray(m.jobs) && m.jobs.every((j) => isObject(j) && isString(j.jobId) && isObject(j.body)),
  'job-applied': (m) => isString(m.jobId) && isString(m.placement) && isString(m.frameName),
  'job-failed': (m) => isString(m.jobId) && isString(m.message),
  relaunch: (m) => m.command === 'regenerate' && Array.isArray(m.nodeIds) && m.nodeIds.every(isString),
};

type Handler<K extends MainToUiType> = (message: MainToUiOf<K>) => void;

const handlers = new Map<MainToUiType, Set<(message: MainToUi) => void>>();

/** Registers a handler; returns the function that removes it. */
export function on<K extends MainToUiType>(name: K, handler: Handler<K>): () => void {
  const set = handlers.get(name) ?? new Set();
  handlers.set(name, set);
  const h = handler as unknown as (message: MainToUi) => void;
  set.add(h);
  return () => void set.delete(h);
}

/** Posts a message to the main thread. */
export function emit<K extends UiToMainType>(name: K, payload: PayloadOf<UiToMainOf<K>>): void {
  parent.postMessage({ pluginMessage: { type: name, ...payload } }, '*');
}

export function isMainMessage(value: unknown): value is MainToUi {
  if (!isObject(value) || !isString(value.type) || !Object.prototype.hasOwnProperty.call(MAIN_MESSAGES, value.type)) return false;
  return MAIN_MESSAGES[value.type as MainToUiType](value);
}

/** Routes one window message event (Figma wraps the main thread's message in `pluginMessage`). */
export function dispatch(event: MessageEvent): void {
  const data: unknown = event.data;
  const message = isObject(data) ? data.pluginMessage : undefined;
  if (!isMainMessage(message)) return;
  const set = handlers.get(message.type);
  if (!set || set.size === 0) throw new Error(`No handler for the main-thread message "${message.type}".`);
  for (const handler of [...set]) handler(message);
}

window.addEventListener('message', dispatch);
