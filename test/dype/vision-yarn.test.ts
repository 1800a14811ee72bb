// Reference values: ../shared/golden/dype_vision_yarn.json, computed in float32 by ComfyUI-DyPE's
// vision_yarn (src/rope.py get_1d_dype_yarn_pos_embed, src/base.py _calc_vision_yarn_components).
import { describe, expect, it } from 'vitest';
import { axisRope, fluxRopeFrequencies, globalScale } from '../../runtime/dype/index.ts';
import { readShared, type GoldenVisionYarnCase } from '../helpers/golden.ts';

const golden = readShared<{ cases: GoldenVisionYarnCase[] }>('golden/dype_vision_yarn.json');
const BASE = 64;
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const name = (c: GoldenVisionYarnCase['input']) => `${c.width}x${c.height} t=${c.t} λs=${c.dype_scale} λt=${c.dype_exponent}`;

describe('vision-YaRN against ComfyUI-DyPE (golden/dype_vision_yarn.json)', () => {
  it('covers square, tall, wide and native sizes', () => {
    expect(golden.cases.length).toBeGreaterThanOrEqual(23);
  });

  for (const c of golden.cases) {
    const { input } = c;
    const opts = { method: 'vision-yarn', dynamic: true, lambdaS: input.dype_scale, lambdaT: input.dype_exponent } as const;
    const [rows, cols] = c.grid_tokens;
    const grid = { height: rows, width: cols, textTokens: 0 };

    it(`ω and mscale per axis (axisRope): ${name(input)}`, () => {
      const context = { globalScale: globalScale(grid, BASE) };
      const lengths = [1, rows, cols];
      c.axes.forEach((axis, a) => {
        const got = a === 0 ? axisRope(axis.dim, 1, input.t, { ...opts, method: 'base' }) : axisRope(axis.dim, lengths[a], input.t, opts, context);
        expect(got.omega.length).toBe(axis.omega.length);
        // relative error ≤ 1e-6 on ω and mscale (the reference runs in float32, we in float64)
        axis.omega.forEach((w, j) => expect(rel(got.omega[j], w)).toBeLessThanOrEqual(1e-6));
        expect(rel(got.mscale, axis.mscale)).toBeLessThanOrEqual(1e-6);
      });
    });

    it(`concatenated feed (fluxRopeFrequencies): ${name(input)}`, () => {
      const { omega, mscale } = fluxRopeFrequencies(grid, input.t, opts);
      const ref = c.axes.flatMap((a) => a.omega);
      const refScale = c.axes.flatMap((a) => a.omega.map(() => a.mscale));
      expect(omega.length).toBe(ref.length);
      ref.forEach((w, j) => expect(rel(omega[j], w)).toBeLessThanOrEqual(1e-6));
      refScale.forEach((m, j) => expect(rel(mscale[j], m)).toBeLessThanOrEqual(1e-6));
    });
  }
});
