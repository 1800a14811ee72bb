/** The model families this version runs, by dype.json `family`. */
import type { FamilyId } from '../bundle/config.ts';
import { PipelineError } from '../pipeline/errors.ts';
import { FLUX1 } from './flux1.ts';
import { FLUX2 } from './flux2.ts';
import type { ModelFamily } from './types.ts';

export type { EncodedPrompt, LoadedEncoder, ModelFamily, PositionGrid } from './types.ts';
export { FLUX1 } from './flux1.ts';
export { FLUX2 } from './flux2.ts';

export const FAMILIES: Readonly<Partial<Record<FamilyId, ModelFamily>>> = Object.freeze({ flux1: FLUX1, flux2: FLUX2 });

/** The family object for a bundle's `family`; one this version cannot run is refused by name. */
export function familyOf(id: FamilyId): ModelFamily {
  const family = FAMILIES[id];
  if (!family) throw new PipelineError('bundle_invalid', `this version of dype cannot run ${id} models yet`);
  return family;
}
