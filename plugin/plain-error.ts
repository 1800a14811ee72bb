import { MAX_IMAGE_SIDE } from '../contract/index.ts';

/** An error as a sentence for people: Figma's and our own messages, never a stack. */
export function plainError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // Figma's createImage: "Image is too large"
  if (/image is too large/i.test(message)) return `Figma cannot hold an image larger than ${MAX_IMAGE_SIDE} px per side (${message}).`;
  if (/image type is unsupported|invalid image|unsupported image/i.test(message)) return `Figma could not read the image: ${message}`;
  return message;
}
