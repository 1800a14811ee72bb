// scheduler/scheduler_config.json → the σ schedule's settings: diffusers' keys, and our dype_shift_mu
// that says how μ follows the tokens (FLUX.2's empirical fit).
import { describe, expect, it } from 'vitest';
import { FLUX2_SCHEDULER } from '../../runtime/bundle/flux2.ts';
import { FLUX_SCHEDULERS } from '../../runtime/bundle/flux1.ts';
import { shiftFromSchedulerConfig } from '../../runtime/bundle/scheduler.ts';
import { FLUX2_SHIFT, flowMatchSigmas } from '../../runtime/dype/index.ts';

describe('scheduler config', () => {
  it("reads FLUX.1-dev's as a linear μ and klein's as FLUX.2's empirical μ", () => {
    expect(shiftFromSchedulerConfig(FLUX_SCHEDULERS.dev, 'dev')).not.toHaveProperty('mu');
    const klein = shiftFromSchedulerConfig(FLUX2_SCHEDULER, 'klein');
    expect(klein).toMatchObject({ dynamic: true, mu: 'flux2-empirical', maxImageSeqLen: 4096 });
    expect([...flowMatchSigmas(4, 4096, klein)]).toEqual([...flowMatchSigmas(4, 4096, FLUX2_SHIFT)]);
  });

  it('refuses an unknown μ rule, naming the file and the key', () => {
    expect(() => shiftFromSchedulerConfig({ ...FLUX2_SCHEDULER, dype_shift_mu: 'cubic' }, 'scheduler_config.json')).toThrow(/scheduler_config\.json: dype_shift_mu must be "linear" or "flux2-empirical", got "cubic"/);
  });
});
