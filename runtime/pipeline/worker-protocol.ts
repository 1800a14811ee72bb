/** Messages between a PipelineWorker (worker.ts) and the thread that runs the pipeline (worker-main.ts). */
import type { LoadOptions } from './pipeline.ts';
import type { EngineInfo, GenerateRequest, GenerateResult, PreviewImage } from './types.ts';

/** What the worker thread starts with. */
export interface WorkerStart extends Omit<LoadOptions, 'log'> {
  bundleDir: string;
  /** At most one preview per job per this many ms is rendered (the others cost nothing). */
  previewIntervalMs: number;
}

export type ToWorker = { type: 'generate'; id: number; request: GenerateRequest } | { type: 'abort'; id: number; reason: string } | { type: 'dispose' };

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
}

export type FromWorker =
  | { type: 'ready'; info: EngineInfo }
  | { type: 'log'; line: string }
  | { type: 'load-failed'; error: SerializedError }
  /** `preview`: a preview of this step is being rendered and follows as its own message. */
  | { type: 'step'; id: number; step: number; steps: number; sigma: number; elapsedMs: number; etaMs: number; preview: boolean }
  | { type: 'preview'; id: number; step: number; image: PreviewImage }
  | { type: 'preview-failed'; id: number; step: number; error: SerializedError }
  | { type: 'decode'; id: number; tile: number; tiles: number }
  | { type: 'done'; id: number; result: GenerateResult }
  | { type: 'failed'; id: number; error: SerializedError }
  | { type: 'disposed' };

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}
