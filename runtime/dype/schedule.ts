/** FLUX flow-matching sigma schedule (diffusers FlowMatchEulerDiscreteScheduler + calculate_shift). */

export interface ShiftConfig {
  /** Resolution-dependent exponential shift (dev); false uses the fixed `shift` (schnell: 1). */
  dynamic: boolean;
  baseImageSeqLen: number;
  maxImageSeqLen: number;
  baseShift: number;
  maxShift: number;
  /** Fixed shift S for dynamic: false: σ' = Sσ / (1 + (S − 1)σ). */
  shift: number;
  /**
   * Cap μ at maxShift (the DyPE release does; diffusers' uncapped line sends μ to ~11 at 4K,
   * which collapses the whole schedule onto σ ≈ 1).
   */
  capShift: boolean;
}

export const FLUX_DEV_SHIFT: Readonly<ShiftConfig> = Object.freeze({
  dynamic: true,
  baseImageSeqLen: 256,
  maxImageSeqLen: 4096,
  baseShift: 0.5,
  maxShift: 1.15,
  shift: 3,
  capShift: true,
});

function resolveShiftConfig(cfg: Partial<ShiftConfig>): Readonly<ShiftConfig> {
  const c = { ...FLUX_DEV_SHIFT, ...cfg };
  for (const key of ['baseImageSeqLen', 'maxImageSeqLen', 'baseShift', 'maxShift', 'shift'] as const) {
    if (typeof c[key] !== 'number' || !Number.isFinite(c[key])) {
      throw new RangeError(`ShiftConfig.${key} must be a finite number, got ${String(c[key])}`);
    }
  }
  if (c.maxImageSeqLen <= c.baseImageSeqLen) {
    throw new RangeError(`ShiftConfig.maxImageSeqLen (${c.maxImageSeqLen}) must exceed baseImageSeqLen (${c.baseImageSeqLen})`);
  }
  if (c.shift <= 0) throw new RangeError(`ShiftConfig.shift must be > 0, got ${c.shift}`);
  return Object.freeze(c);
}

/** μ on the line through (baseImageSeqLen, baseShift) and (maxImageSeqLen, maxShift). */
export function calculateShift(imageSeqLen: number, cfg: Partial<ShiftConfig> = {}): number {
  const c = resolveShiftConfig(cfg);
  const slope = (c.maxShift - c.baseShift) / (c.maxImageSeqLen - c.baseImageSeqLen);
  const mu = imageSeqLen * slope + (c.baseShift - slope * c.baseImageSeqLen);
  return c.capShift ? Math.min(mu, c.maxShift) : mu;
}

/** Exponential time shift σ' = e^μ / (e^μ + 1/σ − 1). */
export function timeShift(mu: number, sigma: number): number {
  const e = Math.exp(mu);
  return e / (e + (1 / sigma - 1));
}

/**
 * Sigmas for `steps` Euler steps, from 1 down, plus the terminal 0 (length steps + 1).
 * imageSeqLen is the number of image tokens (latent patches).
 */
export function flowMatchSigmas(steps: number, imageSeqLen: number, cfg: Partial<ShiftConfig> = {}): Float64Array {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be an integer >= 1, got ${String(steps)}`);
  if (!Number.isFinite(imageSeqLen) || imageSeqLen < 1) {
    throw new RangeError(`imageSeqLen must be >= 1, got ${String(imageSeqLen)}`);
  }
  const c = resolveShiftConfig(cfg);
  const mu = c.dynamic ? calculateShift(imageSeqLen, c) : 0;
  const sigmas = new Float64Array(steps + 1);
  // np.linspace(1, 1/steps, steps), with numpy's rounding: start + i·step, exact endpoint.
  const step = steps === 1 ? 0 : (1 / steps - 1) / (steps - 1);
  for (let i = 0; i < steps; i++) {
    const sigma = i === steps - 1 ? 1 / steps : i * step + 1;
    sigmas[i] = c.dynamic ? timeShift(mu, sigma) : (c.shift * sigma) / (1 + (c.shift - 1) * sigma);
  }
  sigmas[steps] = 0;
  return sigmas;
}

/**
 * The schedule of an image-to-image run at `strength` s ∈ [0, 1]: ⌈s·steps⌉ steps that start exactly at
 * σ = s and follow the same shifted curve down to 0 (the unshifted times are the full schedule's
 * linspace scaled by the unshifted time of s). s = 1 gives `flowMatchSigmas` itself; s = 0 gives [0]:
 * no step, the init's latent decoded as it is.
 */
export function partialSigmas(steps: number, imageSeqLen: number, cfg: Partial<ShiftConfig>, strength: number): Float64Array {
  if (!(strength >= 0 && strength <= 1)) throw new RangeError(`strength must be a number from 0 to 1, got ${String(strength)}`);
  const full = flowMatchSigmas(steps, imageSeqLen, cfg);
  if (strength === 1) return full;
  const n = Math.ceil(steps * strength);
  if (n === 0) return Float64Array.of(0);
  const c = resolveShiftConfig(cfg);
  const mu = c.dynamic ? calculateShift(imageSeqLen, c) : 0;
  const shift = (t: number) => (c.dynamic ? timeShift(mu, t) : (c.shift * t) / (1 + (c.shift - 1) * t));
  // the inverse of `shift`: both are σ' = k/(k + 1/σ − 1) with k = e^μ or S
  const k = c.dynamic ? Math.exp(mu) : c.shift;
  const start = 1 / (1 + k * (1 / strength - 1));
  const linear = flowMatchSigmas(n, imageSeqLen, { ...c, dynamic: false, shift: 1 });
  const sigmas = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) sigmas[i] = i === 0 ? strength : shift(start * linear[i]);
  return sigmas;
}
