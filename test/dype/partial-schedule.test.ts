import { describe, expect, it } from 'vitest';
import { flowMatchSigmas, partialSigmas, timeShift, calculateShift } from '../../runtime/dype/index.ts';

describe('image-to-image schedule', () => {
  const cases = [
    ['dev (dynamic shift)', {}],
    ['schnell (fixed shift 1)', { dynamic: false, shift: 1 }],
    ['fixed shift 3', { dynamic: false, shift: 3 }],
  ] as const;

  it.each(cases)('%s: strength 1 is the full schedule, 0 is no step', (_name, cfg) => {
    expect(Array.from(partialSigmas(8, 4096, cfg, 1))).toEqual(Array.from(flowMatchSigmas(8, 4096, cfg)));
    expect(Array.from(partialSigmas(8, 4096, cfg, 0))).toEqual([0]);
  });

  it.each(cases)('%s: strength s takes ⌈s·steps⌉ steps from σ = s down the same curve to 0', (_name, cfg) => {
    for (const s of [0.05, 0.3, 0.55, 0.9]) {
      const sigmas = partialSigmas(10, 1024, cfg, s);
      expect(sigmas.length).toBe(Math.ceil(10 * s) + 1);
      expect(sigmas[0]).toBe(s);
      expect(sigmas[sigmas.length - 1]).toBe(0);
      for (let i = 1; i < sigmas.length; i++) expect(sigmas[i]).toBeLessThan(sigmas[i - 1]);
    }
  });

  it('follows the shifted curve: unshifted times are evenly spaced', () => {
    const mu = calculateShift(1024);
    const unshift = (sigma: number) => 1 / (1 + Math.exp(mu) * (1 / sigma - 1));
    const sigmas = partialSigmas(10, 1024, {}, 0.6);
    const t = Array.from(sigmas.subarray(0, -1), unshift);
    const gaps = t.slice(1).map((v, i) => t[i] - v);
    for (const g of gaps) expect(g).toBeCloseTo(gaps[0], 10);
    expect(timeShift(mu, t[0])).toBeCloseTo(0.6, 12);
  });
});
