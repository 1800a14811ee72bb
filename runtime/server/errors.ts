/** The HTTP layer's error: a code from the contract's table, which gives its status. */
import { ERRORS, type ErrorBody, type ErrorCode } from '../contract/errors.ts';

export { ERRORS, type ErrorBody, type ErrorCode };

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** Extra response headers, e.g. Allow or Retry-After. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message?: string, options: { field?: string; headers?: Record<string, string> } = {}) {
    super(message ?? ERRORS[code].message);
    this.name = 'ApiError';
    this.code = code;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.field === undefined ? {} : { field: this.field }) } };
  }
}
