import type { Generation, OutdatedReason } from '../contract/index.ts';

/** Points a frame may drift from a size (rounding in the editor) and still count as that size. */
const SIZE_TOLERANCE = 0.5;
/** Relative aspect change above which FILL would visibly crop the image. */
const ASPECT_TOLERANCE = 0.01;

/** True when width × height is the other size, give or take SIZE_TOLERANCE points. */
export function sameSize(width: number, height: number, otherWidth: number, otherHeight: number): boolean {
  return Math.abs(width - otherWidth) <= SIZE_TOLERANCE && Math.abs(height - otherHeight) <= SIZE_TOLERANCE;
}

/** Why the frame's image no longer matches its size, or null when it still does. */
export function outdatedReason(width: number, height: number, generation: Generation): OutdatedReason | null {
  if (sameSize(width, height, generation.frameWidth, generation.frameHeight)) return null;
  const aspect = width / Math.max(height, 0.01);
  const imageAspect = generation.width / generation.height;
  return Math.abs(aspect / imageAspect - 1) > ASPECT_TOLERANCE ? 'aspect' : 'size';
}
