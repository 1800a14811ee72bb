/** Options shared by every RoPE method; validated once and frozen. */
export type RopeMethod = 'base' | 'pi' | 'ntk' | 'yarn' | 'vision-yarn';

export const ROPE_METHODS: readonly RopeMethod[] = ['base', 'pi', 'ntk', 'yarn', 'vision-yarn'];

/**
 * How YaRN picks its scale on a non-square image: 'anisotropic' (the release) scales each axis by its
 * own length; 'isotropic' scales every spatial axis by the longer one, as if the image were square.
 */
export const YARN_SCALINGS = ['anisotropic', 'isotropic'] as const;
export type YarnScaling = (typeof YARN_SCALINGS)[number];

/**
 * What an axis of the position ids counts: the image's token rows or columns, which DyPE scales, or
 * anything else (FLUX's time axis, a caption or text-position axis), which keeps native RoPE.
 */
export const AXIS_ROLES = ['native', 'rows', 'cols'] as const;
export type AxisRole = (typeof AXIS_ROLES)[number];

export interface DypeOptions {
  method: RopeMethod;
  /** Rescale per denoising step (DyPE) instead of a fixed extrapolation. */
  dynamic: boolean;
  /** Native tokens per side the model was trained at (FLUX: 1024 px / 16 px = 64). */
  baseLength?: number;
  theta?: number;
  /** λ_s: strength of the dynamic NTK/PI exponent. */
  lambdaS?: number;
  /** λ_t: how fast the scaling fades as t → 0 (κ(t) = t^λ_t). */
  lambdaT?: number;
  axesDim?: number[];
  /** One role per axis of axesDim; default FLUX's: native, rows, cols, then native for any further axis. */
  axisRoles?: readonly AxisRole[];
  /** Only for method 'yarn'; default 'anisotropic'. */
  yarnScaling?: YarnScaling;
}

export type ResolvedDypeOptions = Readonly<Required<Omit<DypeOptions, 'axesDim' | 'axisRoles'>>> & {
  readonly axesDim: readonly number[];
  readonly axisRoles: readonly AxisRole[];
};

/** FLUX.1's RoPE (the one place its axes and θ are written) and DyPE's published λs/λt. */
export const FLUX_DYPE_DEFAULTS = Object.freeze({
  baseLength: 64,
  theta: 10000,
  lambdaS: 2,
  lambdaT: 2,
  axesDim: Object.freeze([16, 56, 56]) as readonly number[],
});

function positiveFinite(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`DypeOptions.${name} must be a finite number > 0, got ${String(value)}`);
  }
  return value;
}

function nonNegativeFinite(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`DypeOptions.${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

/** Even rotary dimension > 2 (NTK divides by d − 2). */
export function checkAxisDim(dim: number, name = 'dim'): number {
  if (!Number.isInteger(dim) || dim < 4 || dim % 2 !== 0) {
    throw new RangeError(`${name} must be an even integer >= 4, got ${String(dim)}`);
  }
  return dim;
}

export function resolveDypeOptions(opts: DypeOptions): ResolvedDypeOptions {
  if (!ROPE_METHODS.includes(opts.method)) {
    throw new RangeError(`DypeOptions.method must be one of ${ROPE_METHODS.join(', ')}, got ${String(opts.method)}`);
  }
  if (typeof opts.dynamic !== 'boolean') {
    throw new RangeError(`DypeOptions.dynamic must be a boolean, got ${String(opts.dynamic)}`);
  }
  const axesDim = opts.axesDim ?? FLUX_DYPE_DEFAULTS.axesDim;
  if (!Array.isArray(axesDim) || axesDim.length === 0) {
    throw new RangeError('DypeOptions.axesDim must be a non-empty array of even integers');
  }
  axesDim.forEach((d, i) => checkAxisDim(d, `DypeOptions.axesDim[${i}]`));
  const axisRoles = opts.axisRoles ?? axesDim.map((_, a): AxisRole => (a === 1 ? 'rows' : a === 2 ? 'cols' : 'native'));
  if (!Array.isArray(axisRoles) || axisRoles.length !== axesDim.length || axisRoles.some((r) => !AXIS_ROLES.includes(r))) {
    throw new RangeError(`DypeOptions.axisRoles must give one of ${AXIS_ROLES.join(', ')} per axis (${axesDim.length}), got ${String(axisRoles)}`);
  }
  for (const role of ['rows', 'cols'] as const) {
    if (axisRoles.filter((r) => r === role).length > 1) throw new RangeError(`DypeOptions.axisRoles names '${role}' more than once`);
  }
  const yarnScaling = opts.yarnScaling ?? 'anisotropic';
  if (!YARN_SCALINGS.includes(yarnScaling)) {
    throw new RangeError(`DypeOptions.yarnScaling must be one of ${YARN_SCALINGS.join(', ')}, got ${String(yarnScaling)}`);
  }
  const baseLength = positiveFinite('baseLength', opts.baseLength ?? FLUX_DYPE_DEFAULTS.baseLength);
  const theta = positiveFinite('theta', opts.theta ?? FLUX_DYPE_DEFAULTS.theta);
  if (theta <= 1) throw new RangeError(`DypeOptions.theta must be > 1, got ${theta}`);
  return Object.freeze({
    method: opts.method,
    dynamic: opts.dynamic,
    baseLength,
    theta,
    lambdaS: nonNegativeFinite('lambdaS', opts.lambdaS ?? FLUX_DYPE_DEFAULTS.lambdaS),
    lambdaT: nonNegativeFinite('lambdaT', opts.lambdaT ?? FLUX_DYPE_DEFAULTS.lambdaT),
    axesDim: Object.freeze([...axesDim]),
    axisRoles: Object.freeze([...axisRoles]),
    yarnScaling,
  });
}

/** t is the flow-matching sigma of the step: 1 = pure noise, 0 = clean image. */
export function checkTimestep(t: number): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > 1) {
    throw new RangeError(`t (the step's sigma) must be in [0, 1], got ${String(t)}`);
  }
  return t;
}
