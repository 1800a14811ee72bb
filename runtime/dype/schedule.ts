/**
 * FLUX flow-matching sigma schedule (diffusers FlowMatchEulerDiscreteScheduler + calculate_shift), and
 * FLUX.2's, which differs only in μ: BFL's flux2 sampling.py (compute_empirical_mu) makes it depend
 * on the step count as well as on the image's tokens.
 */

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
   * Cap μ at its value for maxImageSeqLen tokens (the DyPE release caps FLUX.1's at maxShift;
   * uncapped, μ grows to ~11 at 4K, which collapses the whole schedule onto σ ≈ 1).
   */
  capShift: boolean;
  /**
   * How μ follows the image's tokens: 'linear' is FLUX.1's line through (baseImageSeqLen, baseShift)
   * and (maxImageSeqLen, maxShift); 'flux2-empirical' is FLUX.2's fit in tokens and steps (the
   * shift and sequence-length fields are then not used, but for the cap).
   */
  mu: 'linear' | 'flux2-empirical';
}

export const FLUX_DEV_SHIFT: Readonly<ShiftConfig> = Object.freeze({
  dynamic: true,
  baseImageSeqLen: 256,
  maxImageSeqLen: 4096,
  baseShift: 0.5,
  maxShift: 1.15,
  shift: 3,
  capShift: true,
  mu: 'linear',
});

/** FLUX.2 (klein): the empirical μ, capped at its value for a 1024² image (4096 tokens), as FLUX.1's is. */
export const FLUX2_SHIFT: Readonly<ShiftConfig> = Object.freeze({ ...FLUX_DEV_SHIFT, mu: 'flux2-empirical' });

/**
 * BFL flux2 compute_empirical_mu: above 4300 tokens a line in tokens alone; below, for each token
 * count a line in the step count through its values at 10 and 200 steps.
 */
export function flux2EmpiricalMu(imageSeqLen: number, steps: number): number {
  const [a1, b1] = [8.73809524e-5, 1.89833333];
  const [a2, b2] = [0.00016927, 0.45666666];
  const m200 = a2 * imageSeqLen + b2;
  if (imageSeqLen > 4300) return m200;
  const m10 = a1 * imageSeqLen + b1;
  const a = (m200 - m10) / 190;
  return a * steps + (m200 - 200 * a);
}

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
  if (c.mu !== 'linear' && c.mu !== 'flux2-empirical') throw new RangeError(`ShiftConfig.mu must be "linear" or "flux2-empirical", got ${String(c.mu)}`);
  return Object.freeze(c);
}

/** μ on the line through (baseImageSeqLen, baseShift) and (maxImageSeqLen, maxShift). */
export function calculateShift(imageSeqLen: number, cfg: Partial<ShiftConfig> = {}): number {
  const c = resolveShiftConfig(cfg);
  const slope = (c.maxShift - c.baseShift) / (c.maxImageSeqLen - c.baseImageSeqLen);
  const mu = imageSeqLen * slope + (c.baseShift - slope * c.baseImageSeqLen);
  return c.capShift ? Math.min(mu, c.maxShift) : mu;
}

/** The dynamic shift's μ for a run of `steps` over `imageSeqLen` tokens, by the config's rule and cap. */
function shiftMu(imageSeqLen: number, steps: number, c: Readonly<ShiftConfig>): number {
  if (c.mu === 'linear') return calculateShift(imageSeqLen, c);
  return flux2EmpiricalMu(c.capShift ? Math.min(imageSeqLen, c.maxImageSeqLen) : imageSeqLen, steps);
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
  const mu = c.dynamic ? shiftMu(imageSeqLen, steps, c) : 0;
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
  const mu = c.dynamic ? shiftMu(imageSeqLen, steps, c) : 0;
  const shift = (t: number) => (c.dynamic ? timeShift(mu, t) : (c.shift * t) / (1 + (c.shift - 1) * t));
  // the inverse of `shift`: both are σ' = k/(k + 1/σ − 1) with k = e^μ or S
  const k = c.dynamic ? Math.exp(mu) : c.shift;
  const start = 1 / (1 + k * (1 / strength - 1));
  const linear = flowMatchSigmas(n, imageSeqLen, { ...c, dynamic: false, shift: 1 });
  const sigmas = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) sigmas[i] = i === 0 ? strength : shift(start * linear[i]);
  return sigmas;
}
