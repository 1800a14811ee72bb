import type { Density, FrameInfo, Limits } from '../contract/index.ts';
import { outdatedReason } from './outdated-reason.ts';
import { readGeneration } from './read-generation.ts';
import { targetPixelSize } from './target-pixel-size.ts';

/**
 * What the UI shows about a frame. `density` null means "the density it was generated with"
 * (the size Regenerate asks for); frames without a generation then use `fallback`.
 */
export function frameInfo(frame: FrameNode, density: Density | null, fallback: Density, limits: Limits): FrameInfo {
  const generation = readGeneration(frame);
  const d = density ?? generation?.density ?? fallback;
  return {
    id: frame.id,
    name: frame.name,
    width: frame.width,
    height: frame.height,
    target: targetPixelSize(frame.width, frame.height, d, limits),
    generation,
    outdated: generation ? outdatedReason(frame.width, frame.height, generation) : null,
  };
}
