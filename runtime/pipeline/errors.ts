/** Errors the pipeline raises for problems the caller can fix (bundle, request, cancellation). */
export type PipelineErrorCode = 'bundle_missing' | 'bundle_invalid' | 'bad_request' | 'size_out_of_range' | 'insufficient_memory' | 'cancelled';

export class PipelineError extends Error {
  constructor(
    readonly code: PipelineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PipelineError';
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof PipelineError && error.code === 'cancelled';
}
