/** What `dype convert` refuses, with a message that names the file and what to do. */
export class ConvertError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConvertError';
  }
}
