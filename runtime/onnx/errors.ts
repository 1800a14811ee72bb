/** A model file that cannot be read or a tensor that cannot be written; the message names which. */
export class OnnxError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OnnxError';
  }
}
