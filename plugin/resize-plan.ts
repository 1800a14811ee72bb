/**
 * What to do with a frame's image after the frame was resized, from geometry alone (no figma global):
 * the default action, and for Extend where the old picture stays in the new image (the keep rectangle,
 * in output pixels) and which part of the old image that is (the crop, in its pixels).
 */
import type { Action, KeepRect, OutdatedReason, PixelRect } from '../runtime/contract/index.ts';
import { clamp } from './defaults.ts';

/** A frame's box in its parent's coordinates, in points. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Size {
  width: number;
  height: number;
}

/** Points an edge may drift (rounding in the editor) and still count as not moved. */
const EDGE_TOLERANCE = 0.5;
/** The blend band at the keep rectangle's edges, as a share of the output's longer side… */
const FEATHER_SHARE = 0.02;
/** …at least this many pixels, and at most a quarter of the kept rectangle's shorter side. */
const MIN_FEATHER_PX = 4;

/** Refine when the frame kept its aspect (the picture still fits; only the density changed), Extend otherwise. */
export function defaultAction(reason: OutdatedReason): Action {
  return reason === 'size' ? 'refine' : 'extend';
}

/**
 * Where the start of the old span lies in the new one, along one axis: 0 when its start edge stayed
 * (the end edge was dragged), flush with the end when the end edge stayed, centred when both moved
 * (resized from the centre, or moved as well: centred is also what a FILL paint shows).
 */
function spanOffset(oldStart: number, oldSize: number, newStart: number, newSize: number): number {
  if (Math.abs(oldStart - newStart) <= EDGE_TOLERANCE) return 0;
  if (Math.abs(oldStart + oldSize - (newStart + newSize)) <= EDGE_TOLERANCE) return newSize - oldSize;
  return (newSize - oldSize) / 2;
}

/** The old frame's top-left corner in the new frame's coordinates (points), from which edges moved. */
export function oldFrameOffset(before: Box, after: Box): { x: number; y: number } {
  return { x: spanOffset(before.x, before.width, after.x, after.width), y: spanOffset(before.y, before.height, after.y, after.height) };
}

export interface ExtendPlan {
  /** Where the old picture goes in the new image, in output pixels, with the blend band's width. */
  keep: KeepRect;
  /** The part of the old image that stays visible in the resized frame, in that image's pixels. */
  crop: PixelRect;
}

/**
 * The Extend plan for a frame that showed an `image`-sized picture as a FILL paint while it was
 * `before`, and is now `after`, for a new image of `output` pixels; null when none of the old picture
 * is left in the frame (nothing to keep).
 */
export function extendPlan(before: Box, after: Box, image: Size, output: Size): ExtendPlan | null {
  const offset = oldFrameOffset(before, after);
  // the kept part in the new frame's points: the old frame where it overlaps the new one
  const kx0 = Math.max(0, offset.x);
  const kx1 = Math.min(after.width, offset.x + before.width);
  const ky0 = Math.max(0, offset.y);
  const ky1 = Math.min(after.height, offset.y + before.height);
  if (kx1 <= kx0 || ky1 <= ky0) return null;

  const sx = output.width / after.width;
  const sy = output.height / after.height;
  const x = clamp(Math.round(kx0 * sx), 0, output.width);
  const y = clamp(Math.round(ky0 * sy), 0, output.height);
  const width = clamp(Math.round(kx1 * sx), 0, output.width) - x;
  const height = clamp(Math.round(ky1 * sy), 0, output.height) - y;
  if (width < 1 || height < 1) return null;

  // a FILL paint scales the image to cover the old frame and centres it: points → image pixels
  const scale = Math.max(before.width / image.width, before.height / image.height);
  const originX = (before.width - image.width * scale) / 2;
  const originY = (before.height - image.height * scale) / 2;
  const toImageX = (pt: number) => clamp(Math.round((pt - offset.x - originX) / scale), 0, image.width);
  const toImageY = (pt: number) => clamp(Math.round((pt - offset.y - originY) / scale), 0, image.height);
  const cx = toImageX(kx0);
  const cy = toImageY(ky0);
  const crop = { x: cx, y: cy, width: Math.max(1, toImageX(kx1) - cx), height: Math.max(1, toImageY(ky1) - cy) };

  const band = Math.max(MIN_FEATHER_PX, Math.round(FEATHER_SHARE * Math.max(output.width, output.height)));
  const feather = Math.min(band, Math.floor(Math.min(width, height) / 4));
  return { keep: { x, y, width, height, feather }, crop };
}
