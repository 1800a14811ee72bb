// FLUX.2's four RoPE axes (t, h, w, l): every method scales only h and w; the time axis and the text
// axis keep their native ω and an mscale of 1 (text positions mean the same at any image size).
import { describe, expect, it } from 'vitest';
import { fluxRopeFrequencies, ROPE_METHODS } from '../../runtime/dype/index.ts';

const grid = { height: 256, width: 64, textTokens: 512 };
const axesDim = [32, 32, 32, 32];
const opts = { dynamic: true, baseLength: 64, theta: 2000, axesDim };

describe('four RoPE axes (FLUX.2)', () => {
  it.each(ROPE_METHODS.filter((m) => m !== 'base'))('%s scales h and w only', (method) => {
    const native = fluxRopeFrequencies(grid, 0.9, { ...opts, method: 'base', dynamic: false });
    const scaled = fluxRopeFrequencies(grid, 0.9, { ...opts, method });
    const axis = (x: Float64Array, a: number) => [...x.subarray(a * 16, (a + 1) * 16)];
    for (const a of [0, 3]) {
      expect(axis(scaled.omega, a)).toEqual(axis(native.omega, a));
      expect(axis(scaled.mscale, a).every((m) => m === 1)).toBe(true);
    }
    // The 4× longer row axis is extrapolated in every method.
    expect(axis(scaled.omega, 1)).not.toEqual(axis(native.omega, 1));
  });
});
