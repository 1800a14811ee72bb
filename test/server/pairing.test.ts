import { describe, expect, it } from 'vitest';
import { formatPairingCode, normalizePairingCode, PairingLimiter, pairingCode, pairingCodeMatches } from '../../runtime/server/pairing.ts';

describe('pairing code', () => {
  it('is 8 Crockford base32 characters derived from the token', () => {
    const code = pairingCode('token-a-0123456789');
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{8}$/);
    expect(pairingCode('token-a-0123456789')).toBe(code);
    expect(pairingCode('token-b-0123456789')).not.toBe(code);
    expect(formatPairingCode(code)).toBe(`${code.slice(0, 4)}-${code.slice(4)}`);
  });

  it('accepts what people type', () => {
    expect(normalizePairingCode(' ab0o-il1z ')).toBe('AB00111Z');
    const code = pairingCode('some-token-0123456789');
    expect(pairingCodeMatches(formatPairingCode(code).toLowerCase(), code)).toBe(true);
    expect(pairingCodeMatches(code.slice(1), code)).toBe(false);
    expect(pairingCodeMatches(`${code}0`, code)).toBe(false);
  });

  it('allows a number of attempts per window; a given-back attempt does not count', () => {
    let now = 0;
    const limiter = new PairingLimiter(3, 60_000, () => now);
    // reserved attempts count at once, before anything is awaited
    const attempts = [limiter.reserve(), limiter.reserve(), limiter.reserve()];
    expect(attempts.every((a) => a !== null)).toBe(true);
    expect(limiter.reserve()).toBeNull();
    expect(limiter.retryAfterSeconds()).toBe(60);
    attempts[2]!.release(); // e.g. the right code
    attempts[2]!.release(); // twice is once
    expect(limiter.retryAfterSeconds()).toBe(0);
    expect(limiter.reserve()).not.toBeNull();
    expect(limiter.reserve()).toBeNull();
    now = 30_000;
    expect(limiter.retryAfterSeconds()).toBe(30);
    now = 60_000;
    expect(limiter.retryAfterSeconds()).toBe(0);
    expect(limiter.reserve()).not.toBeNull();
  });
});
