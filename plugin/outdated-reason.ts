import type { Generation, OutdatedReason } from './messages.ts';

/** Points a frame may drift from its generation size (rounding in the editor) before it is out of date. */
const SIZE_TOLERANCE = 0.5;
/** Relative aspect change above which FILL would visibly crop the image. */
const ASPECT_TOLERANCE = 0.01;

/** Why the frame's image no longer matches its size, or null when it still does. */
export function outdatedReason(width: number, height: number, generation: Generation): OutdatedReason | null {
  const sameSize = Math.abs(width - generation.frameWidth) <= SIZE_TOLERANCE && Math.abs(height - generation.frameHeight) <= SIZE_TOLERANCE;
  if (sameSize) return null;
  const aspect = width / Math.max(height, 0.01);
  const imageAspect = generation.width / generation.height;
  return Math.abs(aspect / imageAspect - 1) > ASPECT_TOLERANCE ? 'aspect' : 'size';
}
