/**
 * DyPE's time dependence. t is the step's sigma: scaling is full at t = 1
 * (pure noise, when low frequencies settle) and fades to native as t → 0.
 */

/** κ(t) = t^λ_t: multiplies YaRN's β/γ rotation thresholds. */
export function kappa(t: number, lambdaT: number): number {
  return t ** lambdaT;
}

/** Exponent k = λ_s·t^λ_t applied to the NTK factor (and to the PI scale in Dy-PI). */
export function dynamicExponent(t: number, lambdaS: number, lambdaT: number): number {
  return lambdaS * kappa(t, lambdaT);
}

/** Dy-PI (our parametrization): effective scale s^(λ_s·t^λ_t), never below 1. */
export function dynamicPiScale(scale: number, t: number, lambdaS: number, lambdaT: number): number {
  return Math.max(1, scale ** dynamicExponent(t, lambdaS, lambdaT));
}
