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

  it('limits failures per window', () => {
    let now = 0;
    const limiter = new PairingLimiter(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfterSeconds()).toBe(0);
      limiter.recordFailure();
    }
    expect(limiter.retryAfterSeconds()).toBe(60);
    now = 30_000;
    expect(limiter.retryAfterSeconds()).toBe(30);
    now = 60_001;
    expect(limiter.retryAfterSeconds()).toBe(0);
  });
});
