/**
 * The generation record a frame carries (pluginData "generation"): reading and writing it, what
 * a frame is and asks for (FrameInfo, its pixel size at a density), and when it is out of date.
 */
import { type Density, type FrameInfo, type Generation, GenerationSchema, type Limits, type OutdatedReason } from '../runtime/contract/index.ts';
import { targetPixelSize } from './defaults.ts';
import type { PictureNode } from './nodes.ts';
import { defaultAction } from './resize-plan.ts';

export const GENERATION_KEY = 'generation';

/** The generation stored on `node`, or null when there is none or it cannot be read. */
export function readGeneration(node: BaseNode): Generation | null {
  const raw = node.getPluginData(GENERATION_KEY);
  if (!raw) return null;
  try {
    const parsed = GenerationSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Figma throws above 1000 characters; the panel shows about three lines. */
const MAX_DESCRIPTION = 1000;

/** Stores `generation` on the frame and offers "Regenerate" and "Open DyPE" in its properties panel. */
export function writeGeneration(frame: PictureNode, generation: Generation): void {
  frame.setPluginData(GENERATION_KEY, JSON.stringify(generation));
  frame.setRelaunchData({ regenerate: relaunchDescription(generation), open: '' });
}

export function relaunchDescription(g: Generation): string {
  const tail = ` · seed ${g.seed} · ${g.width}×${g.height} px`;
  const room = MAX_DESCRIPTION - tail.length - 2;
  const prompt = g.prompt.length > room ? `${g.prompt.slice(0, room - 1)}…` : g.prompt;
  return `“${prompt}”${tail}`;
}

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

/**
 * What the UI shows about a frame. `density` null means "the density it was generated with"
 * (the size Regenerate asks for); frames without a generation then use `fallback`. `image`: the pixel
 * size of the picture it shows (pictureSizeAsync).
 */
export function frameInfo(frame: PictureNode, density: Density | null, fallback: Density, limits: Limits, image: FrameInfo['image']): FrameInfo {
  const generation = readGeneration(frame);
  const d = density ?? generation?.density ?? fallback;
  const outdated = generation ? outdatedReason(frame.width, frame.height, generation) : null;
  return {
    id: frame.id,
    name: frame.name,
    width: frame.width,
    height: frame.height,
    target: targetPixelSize(frame.width, frame.height, d, limits),
    generation,
    outdated,
    image,
    proposed: outdated ? defaultAction(outdated) : null,
  };
}

/** Frames (and rectangles) on `page` that carry a stored generation. */
export function findGeneratedFrames(page: PageNode): PictureNode[] {
  return page.findAllWithCriteria({ types: ['FRAME', 'RECTANGLE'], pluginData: { keys: [GENERATION_KEY] } });
}
