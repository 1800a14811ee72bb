export type { AxisRole, RopeMethod, DypeOptions, ResolvedDypeOptions, YarnScaling } from './options.ts';
export { AXIS_ROLES, ROPE_METHODS, YARN_SCALINGS, FLUX_DYPE_DEFAULTS, resolveDypeOptions } from './options.ts';
export type { AxisRope, AxisContext } from './axis.ts';
export { axisRope } from './axis.ts';
export type { TokenGrid, RopeFrequencies } from './tables.ts';
export { fluxRopeTables, fluxRopeFrequencies, axisLengths, globalScale } from './tables.ts';
export type { ShiftConfig } from './schedule.ts';
export { flowMatchSigmas, partialSigmas, calculateShift, timeShift, flux2EmpiricalMu, FLUX_DEV_SHIFT, FLUX2_SHIFT } from './schedule.ts';
