import { describe, expect, it } from 'vitest';
import { resolveDypeExponent } from '../../runtime/contract/names.ts';

describe('auto λt (resolveDypeExponent)', () => {
  // thresholds on s = longer side / native side, as documented in names.ts and the README
  it.each([
    [1024, 1024, 0.5],
    [1536, 1536, 0.5],
    [2047, 512, 0.5],
    [2048, 512, 1],
    [1024, 2560, 1],
    [3583, 3583, 1],
    [3584, 1024, 2],
    [3840, 2160, 2],
    [4096, 4096, 2],
  ])('%i×%i on a 1024 px model → %f', (width, height, exponent) => {
    expect(resolveDypeExponent('auto', width, height, 1024)).toBe(exponent);
  });

  it('a number is kept as it is, whatever the size', () => {
    expect(resolveDypeExponent(0.7, 4096, 4096, 1024)).toBe(0.7);
  });

  it('the scale factor is relative to the model’s native size', () => {
    expect(resolveDypeExponent('auto', 1024, 1024, 256)).toBe(2);
  });
});
