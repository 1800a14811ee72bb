// FLUX.2's sigma schedule against BFL's flux2 sampling.py (get_schedule / compute_empirical_mu, as
// written in test/convert/reference-flux2/make_fixtures.py): uncapped it is BFL's exactly; the
// pipeline's FLUX2_SHIFT caps μ at a 1024² image's, as FLUX.1's is capped at maxShift.
import { describe, expect, it } from 'vitest';
import { FLUX2_SHIFT, flowMatchSigmas, flux2EmpiricalMu, partialSigmas } from '../../runtime/dype/index.ts';
import { KLEIN_REFERENCE } from '../convert/helpers/klein-fixtures.ts';
import { maxAbsDiff } from '../helpers/compare.ts';

const cases = KLEIN_REFERENCE.schedule;

describe('FLUX.2 schedule', () => {
  it.each(cases.map((c) => [c.steps, c.image_seq_len, c] as const))('%i steps over %i tokens: μ and σ equal BFL get_schedule (uncapped)', (steps, tokens, c) => {
    expect(flux2EmpiricalMu(tokens, steps)).toBeCloseTo(c.mu, 12);
    const sigmas = flowMatchSigmas(steps, tokens, { ...FLUX2_SHIFT, capShift: false });
    expect(maxAbsDiff(sigmas, c.sigmas)).toBeLessThan(1e-12);
  });

  it('caps μ at its value for 4096 tokens, so a 4096×1024 image keeps the native schedule, not a collapsed one', () => {
    const capped = flowMatchSigmas(4, 16384, FLUX2_SHIFT);
    const native = cases.find((c) => c.steps === 4 && c.image_seq_len === 4096)!;
    expect(maxAbsDiff(capped, native.sigmas)).toBeLessThan(1e-12);
    const uncapped = cases.find((c) => c.image_seq_len === 16384)!;
    expect(uncapped.sigmas[2]).toBeGreaterThan(capped[2]);
  });

  it('an image-to-image run starts at σ = strength on the same curve', () => {
    const full = flowMatchSigmas(8, 4096, FLUX2_SHIFT);
    const half = partialSigmas(8, 4096, FLUX2_SHIFT, 0.5);
    expect(half[0]).toBe(0.5);
    expect(half.at(-1)).toBe(0);
    expect(half).toHaveLength(5);
    for (let i = 1; i < half.length; i++) expect(half[i]).toBeLessThan(half[i - 1]);
    expect([...partialSigmas(8, 4096, FLUX2_SHIFT, 1)]).toEqual([...full]);
  });

  it('refuses an unknown μ rule, naming the field', () => {
    expect(() => flowMatchSigmas(4, 4096, { mu: 'quadratic' as 'linear' })).toThrow(/ShiftConfig\.mu must be/);
  });
});
