/**
 * Pairing: the companion prints a short code; the user types it into the plugin, which sends it to
 * `POST /v1/pair {"code": "ABCD-EFGH"}` and receives the token in `{"token": "..."}`. The plugin
 * stores the token and sends `Authorization: Bearer <token>` from then on.
 *
 * The code is 8 Crockford base32 characters (40 bits) derived from the token, so it never needs to be
 * stored and changes when the token does. Wrong codes are rate limited, which makes guessing 2^40
 * codes hopeless.
 */
import { createHmac } from 'node:crypto';
import { safeEqual } from './security.ts';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const PAIRING_CODE_LENGTH = 8;

/** 8-character code for `token`, e.g. "7G3QK9ZD". Show it as `formatPairingCode` for reading aloud. */
export function pairingCode(token: string): string {
  const digest = createHmac('sha256', token).update('dype-pairing-v1').digest();
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(digest[i]);
  let code = '';
  for (let i = PAIRING_CODE_LENGTH - 1; i >= 0; i--) code += CROCKFORD[Number((bits >> BigInt(i * 5)) & 31n)];
  return code;
}

/** "7G3QK9ZD" → "7G3Q-K9ZD". */
export function formatPairingCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** Accepts what people type: any case, dashes and spaces, and Crockford's look-alikes (O→0, I/L→1). */
export function normalizePairingCode(input: string): string {
  return input
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
}

export function pairingCodeMatches(input: string, expected: string): boolean {
  return safeEqual(normalizePairingCode(input), expected);
}

/**
 * Failed attempts allowed per window; after that every attempt is refused until the window passes.
 * All clients share one budget: everything comes from this machine anyway.
 */
export class PairingLimiter {
  private failures: number[] = [];

  constructor(
    private readonly maxFailures = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds to wait before the next attempt is allowed, or 0. */
  retryAfterSeconds(): number {
    const now = this.now();
    this.failures = this.failures.filter((t) => now - t < this.windowMs);
    if (this.failures.length < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((this.failures[0] + this.windowMs - now) / 1000));
  }

  recordFailure(): void {
    this.failures.push(this.now());
  }
}
