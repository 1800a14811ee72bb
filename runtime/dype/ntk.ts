import { ropeOmega } from './base.ts';

/** NTK-aware base factor s^(d/(d−2)): stretches the lowest frequency by exactly s. */
export function ntkBaseFactor(dim: number, scale: number): number {
  return scale ** (dim / (dim - 2));
}

/**
 * NTK factor f = (s^(d/(d−2)))^k, clamped to ≥ 1 so it never sharpens below native.
 * k = 1 is static NTK; DyPE uses k = λ_s·t^λ_t.
 */
export function ntkFactor(dim: number, scale: number, exponent: number): number {
  return Math.max(1, ntkBaseFactor(dim, scale) ** exponent);
}

/** ω_j = 1 / (θ·f)^(2j/d). */
export function ntkOmega(dim: number, theta: number, factor: number): Float64Array {
  return ropeOmega(dim, theta * factor);
}
