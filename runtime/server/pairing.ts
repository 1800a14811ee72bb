/**
 * Pairing: the companion prints a short code; the user types it into the plugin, which sends it to
 * `POST /v1/pair {"code": "ABCD-EFGH"}` and receives the token in `{"token": "..."}`. The plugin
 * stores the token and sends `Authorization: Bearer <token>` from then on.
 *
 * The code is 8 Crockford base32 characters (40 bits) derived from the token, so it never needs to be
 * stored and changes when the token does. Wrong codes are rate limited, which makes guessing 2^40
 * codes hopeless (see PairingLimiter).
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
 * The guard against guessing: at most `maxAttempts` codes are compared per window. The caller
 * reserves an attempt once the body has arrived and compares the code in the same tick, so a body that
 * stalls takes nothing and concurrent requests cannot all slip past the check; the attempt is given
 * back when the code was right, so only wrong codes use up the budget. Once it is spent every attempt is refused until the oldest one is a
 * window old.
 *
 * All clients share one budget. The companion cannot tell the Figma plugin from any other page in a
 * browser on this machine (both send `Origin: null`), so such a page can spend the budget and keep
 * pairing locked while it keeps trying. That is accepted: a per-client budget would give a guesser as
 * many budgets as it can open connections. A locked-out user can pair again once the page stops (the
 * window is a minute), and an already paired plugin, `--token` and the token file are not affected.
 */
export class PairingLimiter {
  /** Start times of the attempts in the current window, oldest first. */
  private attempts: number[] = [];

  constructor(
    private readonly maxAttempts = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Takes one attempt from the budget, or returns null when it is spent (see retryAfterSeconds). */
  reserve(): { release: () => void } | null {
    const at = this.now();
    this.expire(at);
    if (this.attempts.length >= this.maxAttempts) return null;
    this.attempts.push(at);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const index = this.attempts.indexOf(at);
        if (index >= 0) this.attempts.splice(index, 1);
      },
    };
  }

  /** Seconds until an attempt is allowed again, or 0. */
  retryAfterSeconds(): number {
    const now = this.now();
    this.expire(now);
    if (this.attempts.length < this.maxAttempts) return 0;
    return Math.max(1, Math.ceil((this.attempts[0] + this.windowMs - now) / 1000));
  }

  private expire(now: number): void {
    while (this.attempts.length > 0 && now - this.attempts[0] >= this.windowMs) this.attempts.shift();
  }
}
