/** An IMAGE paint that covers its layer (FILL), cropping what does not fit. */
export function imagePaint(imageHash: string): ImagePaint {
  return { type: 'IMAGE', scaleMode: 'FILL', imageHash };
}
