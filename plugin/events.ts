/**
 * The main thread's typed message pair: `emit` posts to the UI, `on` registers a handler for a UI
 * message. Messages that are not well formed are dropped; a well-formed message nobody handles throws.
 */
import { type MainToUi, type MainToUiOf, type MainToUiType, type PayloadOf, type UiToMain, type UiToMainOf, UiToMainSchema, type UiToMainType } from '../runtime/contract/index.ts';

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

/** The message when `value` is a UI message whose payload fits the contract, else null. */
export function parseUiMessage(value: unknown): UiToMain | null {
  const parsed = UiToMainSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

/** Routes one incoming message; returns the handler's promise so callers (and tests) can await it. */
export function dispatch(value: unknown): Promise<void> {
  const message = parseUiMessage(value);
  if (!message) return Promise.resolve();
  const handler = handlers.get(message.type);
  if (!handler) throw new Error(`No handler for the UI message "${message.type}".`);
  return Promise.resolve(handler(message));
}

/** Starts listening to the UI. */
export function listen(): void {
  figma.ui.onmessage = (message: unknown) => dispatch(message);
}
