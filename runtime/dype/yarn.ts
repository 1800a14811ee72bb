import { linearOmega, ropeOmega } from './base.ts';
import { ntkBaseFactor } from './ntk.ts';

/** YaRN thresholds in rotations over the native length (bloc97 / DyPE release values). */
export const YARN_BETA: readonly [number, number] = [1.25, 0.75];
export const YARN_GAMMA: readonly [number, number] = [16, 2];

/** Dimension index whose frequency makes r rotations over the base length B. */
export function correctionDim(rotations: number, dim: number, theta: number, baseLength: number): number {
  return (dim * Math.log(baseLength / (2 * Math.PI * rotations))) / (2 * Math.log(theta));
}

/**
 * [low, high] dimension range for a pair of rotation thresholds, floored/ceiled and clamped
 * to [0, d/2] on both ends. (The release clamps only the high end; with κ(t) → 0 its low end
 * then overshoots and the ramp inverts. Clamping both gives the intended native limit.)
 * rotations = 0 gives log(∞) = ∞ → clamped to d/2, so t = 0 needs no special case.
 */
export function correctionRange(
  lowRotations: number,
  highRotations: number,
  dim: number,
  theta: number,
  baseLength: number,
): [number, number] {
  const half = dim / 2;
  const clamp = (x: number) => Math.min(half, Math.max(0, x));
  const low = clamp(Math.floor(correctionDim(lowRotations, dim, theta, baseLength)));
  const high = clamp(Math.ceil(correctionDim(highRotations, dim, theta, baseLength)));
  return [low, high];
}

/**
 * Weight of the "interpolated" side per dimension: r_j = clamp((j − low)/(high − low), 0, 1).
 * The reference evaluates this ramp in float32 and blends with the float32 complement
 * m = 1 − r; we reproduce that rounding so ω matches it to ~1e-8.
 */
export function rampWeights(low: number, high: number, count: number): Float64Array {
  const span = Math.fround((high === low ? high + 0.001 : high) - low);
  const weights = new Float64Array(count);
  for (let j = 0; j < count; j++) {
    const ramp = Math.min(1, Math.max(0, Math.fround(Math.fround(j - low) / span)));
    weights[j] = 1 - Math.fround(1 - ramp);
  }
  return weights;
}

/** Dimension ranges [low, high] of YaRN's two ramps: β (linear ↔ NTK) and γ (scaled ↔ native). */
export interface RampRanges {
  beta: readonly [number, number];
  gamma: readonly [number, number];
}

/**
 * NTK-by-parts blend shared by YaRN and vision-YaRN: dims with few rotations over B get linear
 * interpolation (ω/s_linear), dims with many keep NTK (base θ·s_ntk^(d/(d−2))), then the fastest
 * (γ) dims are pulled back to native.
 */
export function blendByParts(dim: number, theta: number, linearScale: number, ntkScale: number, ranges: RampRanges): Float64Array {
  const half = dim / 2;
  const base = ropeOmega(dim, theta);
  const linear = linearOmega(dim, theta, linearScale);
  const ntk = ropeOmega(dim, theta * ntkBaseFactor(dim, ntkScale));
  const toLinear = rampWeights(ranges.beta[0], ranges.beta[1], half);
  const toBlended = rampWeights(ranges.gamma[0], ranges.gamma[1], half);

  const omega = new Float64Array(half);
  for (let j = 0; j < half; j++) {
    const blended = linear[j] * toLinear[j] + ntk[j] * (1 - toLinear[j]);
    omega[j] = blended * toBlended[j] + base[j] * (1 - toBlended[j]);
  }
  return omega;
}

/** YaRN as in the DyPE release: one scale s for both sides, κ multiplies all four thresholds. */
export function yarnOmega(
  dim: number,
  theta: number,
  baseLength: number,
  scale: number,
  thresholdScale: number,
): Float64Array {
  const range = (low: number, high: number) => correctionRange(low * thresholdScale, high * thresholdScale, dim, theta, baseLength);
  return blendByParts(dim, theta, scale, scale, { beta: range(...YARN_BETA), gamma: range(...YARN_GAMMA) });
}

/** YaRN attention temperature: cos and sin are scaled by 1 + 0.1·ln(s). */
export function yarnMscale(scale: number): number {
  return scale <= 1 ? 1 : 1 + 0.1 * Math.log(scale);
}
