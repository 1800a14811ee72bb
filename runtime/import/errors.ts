/** Errors `dype import` raises for problems the user can act on; each names what it looked at. */
export type ImportErrorCode =
  | 'export_invalid'
  | 'rope_not_found'
  | 'rope_ambiguous'
  | 'attention_unsupported'
  | 'tokenizer_missing'
  | 'verify_failed'
  | 'bundle_exists';

export class ImportError extends Error {
  constructor(
    readonly code: ImportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImportError';
  }
}
