import type { Action } from '../runtime/contract/index.ts';

/** What the action choice says about each action, in the order it shows them (the contract's ACTIONS). */
export const ACTION_INFO: Readonly<Record<Action, { label: string; help: string }>> = {
  refine: { label: 'Refine', help: 'The same picture, sharper: upscales it and redraws the fine detail.' },
  extend: { label: 'Extend', help: 'Keeps the picture where the frame kept it and paints only the new area.' },
  reimagine: { label: 'Re-imagine', help: 'A new picture from the prompt and seed.' },
};
