// Reference values: ../shared/golden/dype_rope.json and flux_schedule.json, computed by the DyPE
// release's FluxPosEmbed (float64 frequencies, float32 ramp and tables) and diffusers' FLUX schedule.
import { describe, expect, it } from 'vitest';
import { axisRope, calculateShift, flowMatchSigmas, fluxRopeTables } from '../../runtime/dype/index.ts';
import { readShared, type GoldenRopeCase, type GoldenScheduleCase } from '../helpers/golden.ts';

const rope = readShared<{ cases: GoldenRopeCase[] }>('golden/dype_rope.json');
const schedule = readShared<{ cases: GoldenScheduleCase[] }>('golden/flux_schedule.json');

const PIXELS_PER_TOKEN = 16;
const name = (c: GoldenRopeCase['input']) =>
  `${c.width}x${c.height} ${c.method} ${c.dynamic ? 'dynamic' : 'static'} t=${c.t}`;

describe('DyPE RoPE against the release (golden/dype_rope.json)', () => {
  it('covers every method at several sizes', () => {
    expect(rope.cases.length).toBeGreaterThanOrEqual(27);
  });

  for (const c of rope.cases) {
    const { input } = c;
    const opts = { method: input.method, dynamic: input.dynamic };
    const grid = { height: input.height / PIXELS_PER_TOKEN, width: input.width / PIXELS_PER_TOKEN, textTokens: input.txt_len };

    it(`ω and mscale per axis: ${name(input)}`, () => {
      const lengths = [1, grid.height, grid.width];
      c.axes.forEach((axis, a) => {
        const got = a === 0 ? axisRope(axis.dim, 1, input.t, { ...opts, method: 'base' }) : axisRope(axis.dim, lengths[a], input.t, opts);
        expect(got.omega.length).toBe(axis.omega.length);
        axis.omega.forEach((w, j) => {
          // relative error ≤ 1e-7 (the reference rounds the YaRN ramp to float32)
          expect(Math.abs(got.omega[j] - w) / Math.abs(w)).toBeLessThanOrEqual(1e-7);
        });
        expect(got.mscale).toBeCloseTo(axis.mscale, 12);
      });
    });

    it(`table rows and sums: ${name(input)}`, () => {
      const { cos, sin, dim } = fluxRopeTables(grid, input.t, opts);
      expect(dim).toBe(128);
      expect(cos.length).toBe(c.n_tokens * dim);
      for (const [row, ref] of Object.entries(c.rows)) {
        const r = Number(row);
        for (let k = 0; k < dim; k++) {
          expect(Math.abs(cos[r * dim + k] - ref.cos[k])).toBeLessThanOrEqual(2e-6);
          expect(Math.abs(sin[r * dim + k] - ref.sin[k])).toBeLessThanOrEqual(2e-6);
        }
      }
      let sumCos = 0;
      let sumSin = 0;
      let sumSq = 0;
      for (let i = 0; i < cos.length; i++) {
        sumCos += cos[i];
        sumSin += sin[i];
        sumSq += cos[i] * cos[i] + sin[i] * sin[i];
      }
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
      expect(rel(sumCos, c.sum_cos)).toBeLessThanOrEqual(1e-6);
      expect(rel(sumSin, c.sum_sin)).toBeLessThanOrEqual(1e-6);
      expect(rel(sumSq, c.sum_sq)).toBeLessThanOrEqual(1e-6);
    });
  }
});

describe('flow-matching sigmas against diffusers + DyPE cap (golden/flux_schedule.json)', () => {
  for (const c of schedule.cases) {
    it(`${c.steps} steps, ${c.image_seq_len} image tokens`, () => {
      expect(calculateShift(c.image_seq_len, { capShift: false })).toBeCloseTo(c.mu_linear, 12);
      expect(calculateShift(c.image_seq_len)).toBeCloseTo(c.mu, 12);
      const sigmas = flowMatchSigmas(c.steps, c.image_seq_len);
      expect(sigmas.length).toBe(c.sigmas.length);
      c.sigmas.forEach((s, i) => expect(Math.abs(sigmas[i] - s)).toBeLessThanOrEqual(1e-12));
    });
  }
});
