/** The server's view of the pipeline: the `Engine` contract from runtime/pipeline/types.ts. */
export type { Engine, EngineInfo } from '../pipeline/types.ts';
