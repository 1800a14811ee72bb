import { describe, expect, it } from 'vitest';
import { gaussianNoise, xoshiro128 } from '../../runtime/pipeline/noise.ts';

describe('seeded Gaussian noise', () => {
  it('same seed gives the same bytes', () => {
    expect(Buffer.from(gaussianNoise(42, 10001).buffer)).toEqual(Buffer.from(gaussianNoise(42, 10001).buffer));
  });
  it('different seeds differ everywhere', () => {
    const a = gaussianNoise(1, 1000);
    const b = gaussianNoise(2, 1000);
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    expect(same).toBe(0);
  });
  it('is standard normal (mean 0, variance 1, symmetric tails)', () => {
    const n = 200_000;
    const z = gaussianNoise(7, n);
    let sum = 0;
    let sq = 0;
    let beyond2 = 0;
    for (const v of z) {
      sum += v;
      sq += v * v;
      if (Math.abs(v) > 2) beyond2++;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.01);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.02);
    expect(beyond2 / n).toBeCloseTo(0.0455, 2);
  });
  it('xoshiro128** gives 32-bit outputs that cover the range', () => {
    const next = xoshiro128(0);
    let max = 0;
    let min = 2 ** 32;
    for (let i = 0; i < 10000; i++) {
      const v = next();
      expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
      max = Math.max(max, v);
      min = Math.min(min, v);
    }
    expect(max).toBeGreaterThan(0.99 * 2 ** 32);
    expect(min).toBeLessThan(0.01 * 2 ** 32);
  });
  it('rejects seeds outside 32 bits', () => {
    expect(() => gaussianNoise(-1, 4)).toThrow(/seed/);
    expect(() => gaussianNoise(2 ** 32, 4)).toThrow(/seed/);
    expect(() => gaussianNoise(1.5, 4)).toThrow(/seed/);
  });
});
