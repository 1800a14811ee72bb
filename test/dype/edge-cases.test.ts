import { describe, expect, it } from 'vitest';
import { axisRope, fluxRopeFrequencies, fluxRopeTables, flowMatchSigmas, type DypeOptions } from '../../runtime/dype/index.ts';

const native = (dim: number, theta = 10000) => Float64Array.from({ length: dim / 2 }, (_, j) => 1 / theta ** ((2 * j) / dim));
const expectClose = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b[i])));
};
const methods: DypeOptions[] = [
  { method: 'pi', dynamic: true },
  { method: 'ntk', dynamic: true },
  { method: 'yarn', dynamic: true },
];

describe('dynamic limit t → 0', () => {
  for (const opts of methods) {
    it(`${opts.method}: t = 0 gives native frequencies without NaN`, () => {
      const { omega } = axisRope(56, 256, 0, opts);
      omega.forEach((w) => expect(Number.isFinite(w)).toBe(true));
      expectClose(omega, native(56));
    });
    it(`${opts.method}: approaches native continuously as t shrinks`, () => {
      const dist = (t: number) => {
        const { omega } = axisRope(56, 256, t, opts);
        const ref = native(56);
        return omega.reduce((m, w, j) => Math.max(m, Math.abs(Math.log(w / ref[j]))), 0);
      };
      expect(dist(1)).toBeGreaterThan(0.1);
      expect(dist(0.5)).toBeLessThanOrEqual(dist(1) + 1e-12);
      expect(dist(0.01)).toBeLessThan(dist(0.5));
    });
  }

  it('yarn: tiny t (where the release ramp inverts to linear) gives native, not ω/s', () => {
    // At t = 0.001 the release's unclamped low end overshoots d/2 and every dim flips to ω/s.
    const { omega } = axisRope(56, 256, 0.001, { method: 'yarn', dynamic: true });
    expectClose(omega, native(56));
    expect(Math.abs(omega[27] - native(56)[27] / 4)).toBeGreaterThan(1e-6);
  });

  it('static methods ignore t', () => {
    for (const method of ['pi', 'ntk', 'yarn'] as const) {
      expectClose(axisRope(56, 200, 0.1, { method, dynamic: false }).omega, axisRope(56, 200, 1, { method, dynamic: false }).omega);
    }
  });
});

describe('axes within the native length', () => {
  for (const method of ['base', 'pi', 'ntk', 'yarn'] as const) {
    it(`${method}: L ≤ B is plain RoPE with mscale 1`, () => {
      for (const L of [1, 17, 64]) {
        const r = axisRope(56, L, 1, { method, dynamic: true });
        expectClose(r.omega, native(56));
        expect(r.mscale).toBe(1);
      }
    });
  }
  it('just past B the scaling starts', () => {
    const r = axisRope(56, 65, 1, { method: 'pi', dynamic: false });
    expectClose(r.omega, native(56).map((w) => w / (65 / 64)));
  });
});

describe('non-square grids scale each axis on its own', () => {
  it('a 4:1 grid rescales only the long axis', () => {
    const grid = { height: 64, width: 256, textTokens: 3 };
    const { omega, mscale } = fluxRopeFrequencies(grid, 1, { method: 'yarn', dynamic: true });
    expect(omega.length).toBe(64);
    expectClose(omega.subarray(0, 8), native(16));
    expectClose(omega.subarray(8, 36), native(56)); // rows: 64 ≤ B
    expect(Math.abs(omega[36 + 27] - native(56)[27])).toBeGreaterThan(1e-6); // columns scaled
    expect(mscale[10]).toBe(1);
    expect(mscale[40]).toBeCloseTo(1 + 0.1 * Math.log(4), 12);
  });

  it('tables follow the frequencies token by token', () => {
    const grid = { height: 70, width: 90, textTokens: 5 };
    const opts: DypeOptions = { method: 'yarn', dynamic: true };
    const t = 0.6;
    const { cos, sin, dim } = fluxRopeTables(grid, t, opts);
    const { omega, mscale } = fluxRopeFrequencies(grid, t, opts);
    const axisOf = (j: number) => (j < 8 ? 0 : j < 36 ? 1 : 2);
    for (const token of [0, 4, 5, 6, 5 + 90, 5 + 69 * 90 + 89, 5 + 33 * 90 + 41]) {
      const img = token - 5;
      const pos = img < 0 ? [0, 0, 0] : [0, Math.floor(img / 90), img % 90];
      for (let j = 0; j < 64; j++) {
        const angle = pos[axisOf(j)] * omega[j];
        for (const k of [2 * j, 2 * j + 1]) {
          expect(cos[token * dim + k]).toBeCloseTo(Math.cos(angle) * mscale[j], 6);
          expect(sin[token * dim + k]).toBeCloseTo(Math.sin(angle) * mscale[j], 6);
        }
      }
    }
  });
});

describe('λ parameters', () => {
  it('λ_s scales the NTK exponent: λ_s = 1 at t = 1 equals static NTK', () => {
    expectClose(axisRope(56, 256, 1, { method: 'ntk', dynamic: true, lambdaS: 1 }).omega, axisRope(56, 256, 1, { method: 'ntk', dynamic: false }).omega);
  });
  it('λ_t controls how fast scaling fades', () => {
    const fast = axisRope(56, 256, 0.5, { method: 'ntk', dynamic: true, lambdaT: 4 }).omega;
    const slow = axisRope(56, 256, 0.5, { method: 'ntk', dynamic: true, lambdaT: 1 }).omega;
    // the lowest frequency is divided more when the fade is slower
    expect(slow[27]).toBeLessThan(fast[27]);
  });
  it('λ_t = 0 keeps dynamic YaRN at its t = 1 value for every t', () => {
    expectClose(axisRope(56, 256, 0.1, { method: 'yarn', dynamic: true, lambdaT: 0 }).omega, axisRope(56, 256, 1, { method: 'yarn', dynamic: true }).omega);
  });
  it('Dy-PI at t = 1 with λ_s = 1 is static PI', () => {
    expectClose(axisRope(56, 256, 1, { method: 'pi', dynamic: true, lambdaS: 1 }).omega, native(56).map((w) => w / 4));
  });
});

describe('input validation names the field', () => {
  it.each([
    [() => axisRope(56, 256, 1.5, { method: 'yarn', dynamic: true }), /t .*\[0, 1\]/],
    [() => axisRope(56, 256, Number.NaN, { method: 'yarn', dynamic: true }), /t /],
    [() => axisRope(55, 256, 1, { method: 'yarn', dynamic: true }), /dim/],
    [() => axisRope(56, 0, 1, { method: 'yarn', dynamic: true }), /length/],
    [() => axisRope(56, 256, 1, { method: 'rope' as never, dynamic: true }), /method must be one of base, pi, ntk, yarn/],
    [() => axisRope(56, 256, 1, { method: 'ntk', dynamic: true, lambdaS: -1 }), /lambdaS/],
    [() => axisRope(56, 256, 1, { method: 'ntk', dynamic: true, baseLength: 0 }), /baseLength/],
    [() => fluxRopeTables({ height: 2.5, width: 4, textTokens: 0 }, 1, { method: 'base', dynamic: false }), /grid.height/],
    [() => flowMatchSigmas(0, 1024), /steps/],
    [() => flowMatchSigmas(4, 1024, { maxImageSeqLen: 10 }), /maxImageSeqLen/],
  ])('%#', (fn, message) => {
    expect(fn).toThrow(message);
  });
});

describe('schedule variants', () => {
  it('schnell (fixed shift 1) is plain linspace with a terminal 0', () => {
    const s = flowMatchSigmas(4, 4096, { dynamic: false, shift: 1 });
    expectClose(s, [1, 0.75, 0.5, 0.25, 0]);
  });
  it('fixed shift S follows Sσ/(1 + (S−1)σ)', () => {
    const s = flowMatchSigmas(2, 4096, { dynamic: false, shift: 3 });
    expectClose(s, [1, (3 * 0.5) / (1 + 2 * 0.5), 0]);
  });
  it('sigmas decrease strictly to 0', () => {
    const s = flowMatchSigmas(28, 65536);
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeLessThan(s[i - 1]);
    expect(s[s.length - 1]).toBe(0);
  });
});

describe('vision-YaRN', () => {
  const vision: DypeOptions = { method: 'vision-yarn', dynamic: true };

  it('images not larger than native keep native ω and mscale 1 on every axis', () => {
    for (const grid of [{ height: 64, width: 64, textTokens: 2 }, { height: 32, width: 48, textTokens: 0 }]) {
      for (const t of [1, 0.4, 0]) {
        const { omega, mscale } = fluxRopeFrequencies(grid, t, vision);
        expectClose(omega, [...native(16), ...native(56), ...native(56)]);
        mscale.forEach((m) => expect(m).toBe(1));
      }
    }
  });

  it('a 4:1 banner scales its short axis through the global NTK scale, with one mscale', () => {
    const { omega, mscale } = fluxRopeFrequencies({ height: 64, width: 256, textTokens: 0 }, 1, vision);
    expectClose(omega.subarray(0, 8), native(16));
    expect(Math.abs(omega[8 + 5] - native(56)[5])).toBeGreaterThan(1e-4); // rows: 64 = B, still rescaled
    expect(mscale[0]).toBe(1);
    expect(mscale[10]).toBeCloseTo(1 + 0.1 * Math.log(4), 12);
    expect(mscale[40]).toBe(mscale[10]);
  });

  it('mscale fades from 1 + 0.1·ln s to 1 as t^λt', () => {
    expect(axisRope(56, 256, 0.5, vision).mscale).toBeCloseTo(1 + 0.1 * Math.log(4) * 0.25, 12);
    expect(axisRope(56, 256, 0, vision).mscale).toBe(1);
  });

  it('static vision-YaRN ignores t and keeps the full mscale', () => {
    const a = axisRope(56, 200, 0.1, { method: 'vision-yarn', dynamic: false });
    const b = axisRope(56, 200, 1, { method: 'vision-yarn', dynamic: false });
    expectClose(a.omega, b.omega);
    expect(a.mscale).toBeCloseTo(1 + 0.1 * Math.log(200 / 64), 12);
  });

  it('strong λs pushes γ₁^k past B/2π rotations: the γ ramp inverts to native, as in the reference', () => {
    expectClose(axisRope(56, 256, 1, { ...vision, lambdaS: 4 }).omega, native(56), 1e-12);
  });

  it('rejects a global scale smaller than the axis own scale', () => {
    expect(() => axisRope(56, 256, 1, vision, { globalScale: 2 })).toThrow(/globalScale must be a finite number >= max\(1, length \/ baseLength\) = 4/);
    expect(() => axisRope(56, 64, 1, vision, { globalScale: Number.NaN })).toThrow(/globalScale/);
  });
});

describe('isotropic YaRN', () => {
  const iso: DypeOptions = { method: 'yarn', dynamic: false, yarnScaling: 'isotropic' };

  it('scales both axes of a 4:1 banner by the longer one, as a square image of that side', () => {
    const banner = fluxRopeFrequencies({ height: 64, width: 256, textTokens: 0 }, 1, iso);
    const square = fluxRopeFrequencies({ height: 256, width: 256, textTokens: 0 }, 1, { method: 'yarn', dynamic: false });
    expectClose(banner.omega, square.omega);
    expectClose(banner.mscale, square.mscale);
  });

  it('anisotropic (the default) keeps the short axis native', () => {
    const { omega } = fluxRopeFrequencies({ height: 64, width: 256, textTokens: 0 }, 1, { ...iso, yarnScaling: 'anisotropic' });
    expectClose(omega.subarray(8, 36), native(56));
  });

  it('is native on images not larger than native', () => {
    expectClose(fluxRopeFrequencies({ height: 64, width: 40, textTokens: 0 }, 1, iso).omega, [...native(16), ...native(56), ...native(56)]);
  });

  it('rejects an unknown scaling by name', () => {
    expect(() => axisRope(56, 256, 1, { ...iso, yarnScaling: 'square' as never })).toThrow(/yarnScaling must be one of anisotropic, isotropic/);
  });
});
