/** The companion: a local HTTP service around an Engine. The CLI builds it with createCompanion and calls listen(). */
export { createCompanion, DEFAULT_BODY_LIMIT, DEFAULT_MAX_QUEUE, DEFAULT_PORT, type Companion, type CompanionOptions, type CompanionStats } from './app.ts';
export { loadOrCreateToken, resolveDataDir } from './data-dir.ts';
export type { Engine, EngineInfo } from './engine.ts';
export { ApiError, ERRORS, type ErrorCode } from './errors.ts';
export type { JobParams, JobRecord, JobState } from './jobs.ts';
export { formatPairingCode, pairingCode } from './pairing.ts';
export type { JobEvent, JobView } from './protocol.ts';
export { ROUTES } from './routes.ts';
