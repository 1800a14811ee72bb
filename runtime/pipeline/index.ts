export * from './types.ts';
export { Pipeline, METHOD_ROPE, planSize, eulerStep, type PipelineInfo, type SizePlan } from './pipeline.ts';
export { PipelineError, isAbortError } from './errors.ts';
export { readBundle, BUNDLE_FILES } from './bundle.ts';
export { availableProviders, autoProviders } from './ort.ts';

import { Pipeline } from './pipeline.ts';
import type { Device } from './types.ts';

export function loadPipeline(bundleDir: string, opts?: { device?: Device; log?: (line: string) => void }): Promise<Pipeline> {
  return Pipeline.load(bundleDir, opts);
}
