import { linearOmega, ropeOmega } from './base.ts';
import { dynamicExponent, dynamicPiScale, kappa } from './dynamic.ts';
import { ntkFactor, ntkOmega } from './ntk.ts';
import { checkAxisDim, checkTimestep, resolveDypeOptions, type DypeOptions, type ResolvedDypeOptions } from './options.ts';
import { visionYarnMscale, visionYarnOmega } from './vision-yarn.ts';
import { yarnMscale, yarnOmega } from './yarn.ts';

export interface AxisRope {
  /** Angular frequency per rotary pair, length dim/2. */
  omega: Float64Array;
  /** Magnitude applied to cos and sin of this axis. */
  mscale: number;
}

/** What one axis needs to know about the rest of the image. */
export interface AxisContext {
  /**
   * The image's largest spatial axis scale, max(1, L_axis/B) over all axes; vision-YaRN takes its
   * NTK scale and mscale from it. Defaults to this axis's own scale (right for square images).
   */
  globalScale?: number;
}

/**
 * ω and mscale for one spatial axis of `length` positions (largest position + 1) at step sigma t.
 * Axes no longer than the native base length get plain RoPE, except under vision-YaRN, which
 * scales every spatial axis once the image as a whole is larger than native.
 */
export function axisRope(dim: number, length: number, t: number, opts: DypeOptions, context: AxisContext = {}): AxisRope {
  return axisRopeResolved(dim, length, t, resolveDypeOptions(opts), context);
}

export function axisRopeResolved(dim: number, length: number, t: number, o: ResolvedDypeOptions, context: AxisContext = {}): AxisRope {
  checkAxisDim(dim);
  checkTimestep(t);
  if (!Number.isInteger(length) || length < 1) {
    throw new RangeError(`length must be an integer >= 1 (largest position + 1), got ${String(length)}`);
  }
  const scale = length / o.baseLength;
  const globalScale = context.globalScale ?? Math.max(1, scale);
  if (typeof globalScale !== 'number' || !Number.isFinite(globalScale) || globalScale < Math.max(1, scale)) {
    throw new RangeError(`globalScale must be a finite number >= max(1, length / baseLength) = ${Math.max(1, scale)}, got ${String(globalScale)}`);
  }
  const native = { omega: ropeOmega(dim, o.theta), mscale: 1 };
  if (o.method === 'base') return native;
  // Methods that look at the whole image scale every spatial axis once it is larger than native.
  const isotropicYarn = o.method === 'yarn' && o.yarnScaling === 'isotropic';
  const wholeImage = o.method === 'vision-yarn' || isotropicYarn;
  if (wholeImage ? globalScale <= 1 : length <= o.baseLength) return native;
  if (o.method === 'vision-yarn') {
    const exponent = o.dynamic ? dynamicExponent(t, o.lambdaS, o.lambdaT) : 1;
    const temperature = o.dynamic ? kappa(t, o.lambdaT) : 1;
    return { omega: visionYarnOmega(dim, o.theta, o.baseLength, scale, globalScale, exponent), mscale: visionYarnMscale(globalScale, temperature) };
  }
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
      const yarnScale = isotropicYarn ? globalScale : scale;
      return { omega: yarnOmega(dim, o.theta, o.baseLength, yarnScale, thresholdScale), mscale: yarnMscale(yarnScale) };
    }
  }
}
