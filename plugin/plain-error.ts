/** An error as a sentence for people: Figma's and our own messages, never a stack. */
export function plainError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/4096|too large/i.test(message)) return `Figma cannot hold an image larger than 4096 px per side (${message}).`;
  if (/image type is unsupported|invalid image|unsupported image/i.test(message)) return `Figma could not read the image: ${message}`;
  return message;
}
