/**
 * Names and limits every front end shares: the CLI, the companion, and (bundled into the Figma
 * plugin and UI) plugin/messages.ts. No imports and no platform types, so any build can take it.
 */

/** User-facing method names: `dy-*` rescale RoPE per step (DyPE); the others are static. */
export const GENERATION_METHODS = ['dy-yarn', 'dy-ntk', 'dy-pi', 'yarn', 'ntk', 'pi', 'base'] as const;
export type GenerationMethod = (typeof GENERATION_METHODS)[number];

export const IMAGE_FORMATS = ['png', 'jpg'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** Request limits; each bundle adds its own size caps. */
export const MIN_SIDE = 64;
export const MAX_STEPS = 100;
