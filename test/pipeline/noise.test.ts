import { describe, expect, it } from 'vitest';
import { gaussianNoise, NOISE_GRID, sizeIndependentNoise, xoshiro128 } from '../../runtime/pipeline/noise.ts';

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

describe('size-independent noise', () => {
  const shape = (height: number, width: number) => ({ channels: 2, height, width });

  it('is deterministic, and exactly standard normal i.i.d. (mean 0, variance 1, no neighbour correlation)', () => {
    const a = sizeIndependentNoise(5, shape(128, 192));
    expect(Buffer.from(a.buffer).equals(Buffer.from(sizeIndependentNoise(5, shape(128, 192)).buffer))).toBe(true);
    let [sum, sq, lag] = [0, 0, 0];
    for (let i = 0; i < a.length; i++) {
      sum += a[i];
      sq += a[i] * a[i];
      if (i % 192 !== 191) lag += a[i] * a[i + 1];
    }
    const n = a.length;
    expect(Math.abs(sum / n)).toBeLessThan(0.02);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.03);
    expect(Math.abs(lag / n)).toBeLessThan(0.02);
  });

  it('its mean over each cell of the 16×16 grid is the seed’s own at every size (scaled by 1/√n)', () => {
    const cellSums = (h: number, w: number) => {
      const z = sizeIndependentNoise(9, shape(h, w));
      const sums = new Float64Array(2 * NOISE_GRID * NOISE_GRID);
      for (let c = 0; c < 2; c++) {
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) sums[(c * NOISE_GRID + Math.floor((y * NOISE_GRID) / h)) * NOISE_GRID + Math.floor((x * NOISE_GRID) / w)] += z[(c * h + y) * w + x];
      }
      const n = (h / NOISE_GRID) * (w / NOISE_GRID);
      return Array.from(sums, (s) => s / Math.sqrt(n)); // = P, the cell's draw
    };
    const [small, large] = [cellSums(32, 32), cellSums(64, 96)];
    small.forEach((p, i) => expect(large[i]).toBeCloseTo(p, 4));
    const other = sizeIndependentNoise(10, shape(32, 32));
    expect(other[0]).not.toBe(sizeIndependentNoise(9, shape(32, 32))[0]);
  });
});
