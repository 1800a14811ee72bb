import { describe, expect, it } from 'vitest';
import { axisRope, fluxRopeFrequencies, fluxRopeTables, type AxisRole, type DypeOptions } from '../../runtime/dype/index.ts';

// Native RoPE from its definition: ω_j = θ^(−2j/d).
const native = (dim: number, theta: number) => Float64Array.from({ length: dim / 2 }, (_, j) => theta ** ((-2 * j) / dim));
const close = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(b[i])));
};

/** Splits the concatenated feed back into its axes. */
const segments = (values: Float64Array, axesDim: readonly number[]) => {
  let at = 0;
  return axesDim.map((d) => values.slice(at, (at += d / 2)));
};

describe('per-axis roles: which axes DyPE scales', () => {
  const grid = { height: 128, width: 96, textTokens: 7 };
  const t = 0.6;

  it('a 4-axis (t, h, w, l) layout scales only rows and cols; the time and text axes keep native RoPE', () => {
    const axesDim = [32, 32, 32, 32];
    const theta = 2000;
    const opts: DypeOptions = { method: 'yarn', dynamic: true, theta, axesDim, axisRoles: ['native', 'rows', 'cols', 'native'] };
    const { omega, mscale } = fluxRopeFrequencies(grid, t, opts);
    const [time, rows, cols, text] = segments(omega, axesDim);
    const [timeM, rowsM, colsM, textM] = segments(mscale, axesDim);
    close(time, native(32, theta));
    close(text, native(32, theta));
    expect([...timeM, ...textM].every((m) => m === 1)).toBe(true);
    const context = { globalScale: 2 }; // 128 rows over a native 64
    const r = axisRope(32, 128, t, opts, context);
    const c = axisRope(32, 96, t, opts, context);
    close(rows, r.omega);
    close(cols, c.omega);
    expect(rowsM.every((m) => m === r.mscale)).toBe(true);
    expect(colsM.every((m) => m === c.mscale)).toBe(true);
    // and scaled they are: YaRN at 2× moves the low frequencies
    expect(Math.abs(rows[15] - native(32, theta)[15])).toBeGreaterThan(1e-6);
  });

  it('roles follow the axis, not its index: rows first, then cols, then a native axis', () => {
    const axesDim = [48, 48, 32];
    const opts: DypeOptions = { method: 'ntk', dynamic: true, theta: 256, axesDim, axisRoles: ['rows', 'cols', 'native'] };
    const [rows, cols, caption] = segments(fluxRopeFrequencies(grid, t, opts).omega, axesDim);
    close(rows, axisRope(48, 128, t, opts).omega);
    close(cols, axisRope(48, 96, t, opts).omega);
    close(caption, native(32, 256));
  });

  it("leaving the roles out is FLUX's layout: native, rows, cols", () => {
    const base: DypeOptions = { method: 'yarn', dynamic: true, axesDim: [16, 56, 56] };
    const implicit = fluxRopeFrequencies(grid, t, base);
    const explicit = fluxRopeFrequencies(grid, t, { ...base, axisRoles: ['native', 'rows', 'cols'] });
    close(implicit.omega, explicit.omega);
    close(implicit.mscale, explicit.mscale);
  });

  it.each<[AxisRole[] | string[], RegExp]>([
    [['native', 'rows'], /one of native, rows, cols per axis \(3\)/],
    [['native', 'rows', 'depth'], /one of native, rows, cols per axis/],
    [['rows', 'rows', 'cols'], /names 'rows' more than once/],
  ])('refuses axisRoles %j', (axisRoles, message) => {
    expect(() => fluxRopeFrequencies(grid, t, { method: 'yarn', dynamic: true, axesDim: [16, 56, 56], axisRoles: axisRoles as AxisRole[] })).toThrow(message);
  });

  it("cos/sin tables, laid out for FLUX's ids, refuse other roles", () => {
    expect(() => fluxRopeTables({ height: 2, width: 2, textTokens: 1 }, t, { method: 'yarn', dynamic: true, axesDim: [16, 56, 56], axisRoles: ['rows', 'cols', 'native'] })).toThrow(
      /need rope_omega\/rope_mscale/,
    );
  });
});
