export * from './types.ts';
export { Pipeline, METHOD_ROPE, planSize, type PipelineInfo, type SizePlan } from './pipeline.ts';
export { eulerStep } from './denoise.ts';
export { PipelineWorker, type PipelineWorkerOptions } from './worker.ts';
export { PipelineError, isAbortError } from './errors.ts';
export { readBundle, BUNDLE_FILES } from '../bundle/read.ts';
export { availableProviders } from './ort.ts';
export { autoProviders, DEVICES, type Device, type ProviderSelection, type SkippedProvider } from './providers.ts';
export { describeAdapter, probeWebGpuAdapter, type WebGpuAdapter, type WebGpuProbe } from './webgpu-adapter.ts';

import { Pipeline } from './pipeline.ts';

export function loadPipeline(bundleDir: string, opts?: Parameters<typeof Pipeline.load>[1]): Promise<Pipeline> {
  return Pipeline.load(bundleDir, opts);
}
