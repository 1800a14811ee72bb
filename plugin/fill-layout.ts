/** Scale and offset (in frame points) that cover a width × height frame with an image the way a FILL paint does: scaled to cover, centred. */
export function fillLayout(frameWidth: number, frameHeight: number, imageWidth: number, imageHeight: number): { scale: number; x: number; y: number } {
  const scale = Math.max(frameWidth / imageWidth, frameHeight / imageHeight);
  return { scale, x: (frameWidth - imageWidth * scale) / 2, y: (frameHeight - imageHeight * scale) / 2 };
}
