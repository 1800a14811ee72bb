/** diffusers' FlowMatchEulerDiscreteScheduler config (scheduler/scheduler_config.json) and its mapping onto ShiftConfig. */
import type { ShiftConfig } from '../dype/index.ts';
import { PipelineError } from '../pipeline/errors.ts';

/** Maps diffusers' FlowMatchEulerDiscreteScheduler config onto our ShiftConfig. */
export function shiftFromSchedulerConfig(raw: unknown, path: string): Partial<ShiftConfig> {
  if (typeof raw !== 'object' || raw === null) throw new PipelineError('bundle_invalid', `${path} must hold a JSON object`);
  const c = raw as Record<string, unknown>;
  const num = (key: string): number | undefined => {
    if (c[key] === undefined || c[key] === null) return undefined;
    if (typeof c[key] !== 'number' || !Number.isFinite(c[key])) {
      throw new PipelineError('bundle_invalid', `${path}: ${key} must be a number, got ${JSON.stringify(c[key])}`);
    }
    return c[key] as number;
  };
  const shift: Partial<ShiftConfig> = { dynamic: c.use_dynamic_shifting === true };
  // Our own key: how μ follows the image's tokens (FLUX.2's empirical fit); diffusers' configs have none.
  if (c.dype_shift_mu !== undefined) {
    if (c.dype_shift_mu !== 'linear' && c.dype_shift_mu !== 'flux2-empirical') {
      throw new PipelineError('bundle_invalid', `${path}: dype_shift_mu must be "linear" or "flux2-empirical", got ${JSON.stringify(c.dype_shift_mu)}`);
    }
    shift.mu = c.dype_shift_mu;
  }
  const fields: [keyof ShiftConfig, string][] = [
    ['baseImageSeqLen', 'base_image_seq_len'],
    ['maxImageSeqLen', 'max_image_seq_len'],
    ['baseShift', 'base_shift'],
    ['maxShift', 'max_shift'],
    ['shift', 'shift'],
  ];
  for (const [ours, theirs] of fields) {
    const value = num(theirs);
    if (value !== undefined) (shift as Record<string, number>)[ours] = value;
  }
  return shift;
}
