import { linearOmega, ropeOmega } from './base.ts';
import { dynamicExponent, dynamicPiScale, kappa } from './dynamic.ts';
import { ntkFactor, ntkOmega } from './ntk.ts';
import { checkAxisDim, checkTimestep, resolveDypeOptions, type DypeOptions, type ResolvedDypeOptions } from './options.ts';
import { yarnMscale, yarnOmega } from './yarn.ts';

export interface AxisRope {
  /** Angular frequency per rotary pair, length dim/2. */
  omega: Float64Array;
  /** Magnitude applied to cos and sin of this axis. */
  mscale: number;
}

/**
 * ω and mscale for one spatial axis of `length` positions (largest position + 1) at step sigma t.
 * Axes no longer than the native base length always get plain RoPE.
 */
export function axisRope(dim: number, length: number, t: number, opts: DypeOptions): AxisRope {
  return axisRopeResolved(dim, length, t, resolveDypeOptions(opts));
}

export function axisRopeResolved(dim: number, length: number, t: number, o: ResolvedDypeOptions): AxisRope {
  checkAxisDim(dim);
  checkTimestep(t);
  if (!Number.isInteger(length) || length < 1) {
    throw new RangeError(`length must be an integer >= 1 (largest position + 1), got ${String(length)}`);
  }
  if (o.method === 'base' || length <= o.baseLength) {
    return { omega: ropeOmega(dim, o.theta), mscale: 1 };
  }
  const scale = length / o.baseLength;
  switch (o.method) {
    case 'pi': {
      const effective = o.dynamic ? dynamicPiScale(scale, t, o.lambdaS, o.lambdaT) : scale;
      return { omega: linearOmega(dim, o.theta, effective), mscale: 1 };
    }
    case 'ntk': {
      const exponent = o.dynamic ? dynamicExponent(t, o.lambdaS, o.lambdaT) : 1;
      return { omega: ntkOmega(dim, o.theta, ntkFactor(dim, scale, exponent)), mscale: 1 };
    }
    case 'yarn': {
      const thresholdScale = o.dynamic ? kappa(t, o.lambdaT) : 1;
      return { omega: yarnOmega(dim, o.theta, o.baseLength, scale, thresholdScale), mscale: yarnMscale(scale) };
    }
  }
}
