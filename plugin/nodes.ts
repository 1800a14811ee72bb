/**
 * Small node helpers: selection, pages, positions, new frames, and errors in words.
 */
import { MAX_IMAGE_SIDE } from '../runtime/contract/index.ts';

/** The node's top-left corner in page coordinates. */
export function absolutePosition(node: SceneNode): { x: number; y: number } {
  const t = node.absoluteTransform;
  return { x: t[0][2], y: t[1][2] };
}

/** The page `node` is on, or null when it is not on one (removed). */
export function pageOf(node: BaseNode): PageNode | null {
  let parent = node.parent;
  while (parent && parent.type !== 'PAGE') parent = parent.parent;
  return parent;
}

/** True when `node` is a layer inside a component instance, where Figma allows no new layers (appendChild throws). */
export function insideInstance(node: SceneNode): boolean {
  for (let parent = node.parent; parent && parent.type !== 'PAGE'; parent = parent.parent) {
    if (parent.type === 'INSTANCE') return true;
  }
  return false;
}

/**
 * A layer whose fill shows the picture: a frame, or a rectangle with an image fill (what Figma makes
 * of a placed photo). A rectangle holds one image, so a result tiled above MAX_IMAGE_SIDE needs a frame.
 */
export type PictureNode = FrameNode | RectangleNode;

/** True for a rectangle that shows an image fill: a placed picture, which Refine and Extend can work on. */
export function isPlacedPicture(node: BaseNode): node is RectangleNode {
  if (node.type !== 'RECTANGLE') return false;
  const fills = node.fills;
  return typeof fills !== 'symbol' && fills.some((p) => p.type === 'IMAGE');
}

/** A frame, or a rectangle showing a picture (or one DyPE filled). */
export function isPictureNode(node: BaseNode): node is PictureNode {
  return node.type === 'FRAME' || isPlacedPicture(node);
}

/** The selected frames and placed pictures, and how many selected nodes are something else. */
export function selectedFrames(): { frames: PictureNode[]; skipped: number } {
  const selection = figma.currentPage.selection;
  const frames = selection.filter(isPictureNode);
  return { frames, skipped: selection.length - frames.length };
}

/** A new frame on `page` at page coordinates (x, y). */
export function createFrame(page: PageNode, name: string, width: number, height: number, x: number, y: number): FrameNode {
  const frame = figma.createFrame();
  page.appendChild(frame);
  frame.name = name;
  frame.resize(width, height);
  frame.x = x;
  frame.y = y;
  return frame;
}

/** An error as a sentence for people: Figma's and our own messages, never a stack. */
export function plainError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Figma's createImage: "Image is too large"
  if (/image is too large/i.test(message)) return `Figma cannot hold an image larger than ${MAX_IMAGE_SIDE} px per side (${message}).`;
  if (/image type is unsupported|invalid image|unsupported image/i.test(message)) return `Figma could not read the image: ${message}`;
  return message;
}
