/**
 * Vision-YaRN (ComfyUI-DyPE's `vision_yarn`): YaRN per image axis with the interpolation scale
 * taken from the axis itself and the NTK scale and attention temperature from the whole image,
 * so a 4:1 banner stretches its long axis without squashing the short one's structure.
 */
import { correctionDim, blendByParts, YARN_BETA, YARN_GAMMA } from './yarn.ts';

/**
 * Ramp range as ComfyUI-DyPE computes it: low clamped at 0, high at d/2, nothing else. When k
 * raises γ₁ past B/2π rotations, high goes negative, the γ ramp inverts and every dim is pulled
 * back to native; we keep that so strong λ_s behaves as it does there.
 */
function referenceRange(lowRotations: number, highRotations: number, dim: number, theta: number, baseLength: number): [number, number] {
  const low = Math.max(0, Math.floor(correctionDim(lowRotations, dim, theta, baseLength)));
  const high = Math.min(dim / 2, Math.ceil(correctionDim(highRotations, dim, theta, baseLength)));
  return [low, high];
}

/**
 * ω of one axis. `axisScale` = max(1, L_axis/B) sets the linear side, `globalScale` = the largest
 * axis scale sets the NTK side, and the YaRN thresholds β₀, β₁, γ₀, γ₁ are raised to `exponent`
 * (k(t) = λ_s·t^λ_t when dynamic, 1 when static).
 */
export function visionYarnOmega(
  dim: number,
  theta: number,
  baseLength: number,
  axisScale: number,
  globalScale: number,
  exponent: number,
): Float64Array {
  const range = (low: number, high: number) => referenceRange(low ** exponent, high ** exponent, dim, theta, baseLength);
  return blendByParts(dim, theta, Math.max(1, axisScale), Math.max(1, globalScale), {
    beta: range(...YARN_BETA),
    gamma: range(...YARN_GAMMA),
  });
}

/**
 * Attention temperature shared by every spatial axis: 1 + 0.1·ln(s_global)·κ, with κ = t^λ_t when
 * dynamic (fading to 1 at t = 0) and 1 when static (the release's fixed YaRN value).
 */
export function visionYarnMscale(globalScale: number, kappa: number): number {
  return globalScale <= 1 ? 1 : 1 + 0.1 * Math.log(globalScale) * kappa;
}
