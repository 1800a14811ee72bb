/**
 * The UI's typed message pair: `emit` posts to the main thread, `on` registers a handler for a main
 * thread message. Messages that are not well formed are dropped; a well-formed message nobody handles throws.
 */
import { MainToUiSchema, type MainToUi, type MainToUiOf, type MainToUiType, type PayloadOf, type UiToMainOf, type UiToMainType } from '../runtime/contract/index.ts';

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

/** The message when `value` is a main-thread message whose payload fits the contract, else null. */
export function parseMainMessage(value: unknown): MainToUi | null {
  const parsed = MainToUiSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** Routes one window message event (Figma wraps the main thread's message in `pluginMessage`). */
export function dispatch(event: MessageEvent): void {
  const data: unknown = event.data;
  const message = parseMainMessage(typeof data === 'object' && data !== null ? (data as { pluginMessage?: unknown }).pluginMessage : undefined);
  if (!message) return;
  const set = handlers.get(message.type);
  if (!set || set.size === 0) throw new Error(`No handler for the main-thread message "${message.type}".`);
  for (const handler of [...set]) handler(message);
}

window.addEventListener('message', dispatch);
