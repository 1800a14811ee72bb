/**
 * createCompanion: the node:http app around a job queue, as a recipe: services (limits, schemas,
 * store, queue, pairing) → one handler per route (handlers/) → the request envelope (Host → Origin →
 * route → token → handler, errors → answers) → the server. It is built, not started; the CLI calls listen().
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { totalmem } from 'node:os';
import { MIN_TOKEN_LENGTH } from './data-dir.ts';
import type { Engine } from './engine.ts';
import { eventsHandler } from './handlers/events.ts';
import { answerClientError, createEnvelope } from './handlers/envelope.ts';
import { healthHandlers } from './handlers/health.ts';
import { jobHandlers } from './handlers/jobs.ts';
import { openAiHandler } from './handlers/openai.ts';
import { pairHandler } from './handlers/pair.ts';
import type { Handler, Services } from './handlers/context.ts';
import { JobStore } from './jobs.ts';
import { buildOpenApi } from './openapi.ts';
import { PairingLimiter, pairingCode } from './pairing.ts';
import { JobQueue } from './queue.ts';
import { MAX_UPLOADS_TOTAL_BYTES, UPLOAD_RETENTION_MS, UploadStore } from './uploads.ts';
import { uploadHandler, UploadSlots } from './handlers/uploads.ts';
import { editHandler } from './handlers/edits.ts';
import { readInit } from './handlers/context.ts';
import { MAX_UPLOAD_BYTES } from '../contract/index.ts';
import type { OperationId } from './routes.ts';
import { buildSchemas, computeLimits, type Limits } from './schemas.ts';
import { listenOnLoopbacks, type LoopbackListener } from './listen.ts';
import { allowedHostHeaders } from './security.ts';
import { modelHandlers } from './handlers/models.ts';
import { ModelServices, type ModelsOptions } from './models.ts';

/** The port the Figma manifest allows (manifest.json networkAccess.allowedDomains). */
export const DEFAULT_PORT = 7860;
export const DEFAULT_MAX_QUEUE = 16;
export const DEFAULT_BODY_LIMIT = 64 * 1024;
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 4;
/** How far past the longest body timeout node's own request timeout lies. */
const REQUEST_TIMEOUT_MARGIN_MS = 5_000;

export interface CompanionOptions {
  engine: Engine;
  dataDir: string;
  token: string;
  version: string;
  /** Default DEFAULT_PORT; 0 picks a free one. */
  port?: number;
  /** Most jobs waiting behind the running one; more get 429 queue_full. */
  maxQueue?: number;
  /** RAM the memory budget is derived from (default: see `defaultMemoryBytes`). */
  memoryBytes?: number;
  /** Largest JSON body in bytes (default 64 kB). */
  bodyLimit?: number;
  /** Largest image body in bytes: POST /v1/uploads and the files of /v1/images/edits (default 64 MiB). */
  uploadLimit?: number;
  /** Uploads are deleted this long after their last use (default 24 h). */
  uploadRetentionMs?: number;
  /** Beyond this many bytes of uploads, the least recently used are deleted (default 2 GiB). */
  uploadsMaxBytes?: number;
  /** Image bodies (uploads, edits) received at once (default 4); more get 429 too_many_uploads with Retry-After. */
  maxConcurrentUploads?: number;
  /** The longest a request body may take to arrive (default 10 s); a slower one gets 408. */
  bodyTimeoutMs?: number;
  /** The longest an image body (uploads, edits) may take to arrive (default 120 s, at least `bodyTimeoutMs`). */
  uploadTimeoutMs?: number;
  /** The longest the request line and headers may take to arrive (default 20 s); a slower one gets 408. */
  headersTimeoutMs?: number;
  /** At most one preview per job per this many ms (default 500); the engine only renders those. */
  previewIntervalMs?: number;
  /** SSE keep-alive comment interval (default 15 s). */
  heartbeatMs?: number;
  /** How long cancel and close wait for the engine to stop (default 10 s). */
  stopTimeoutMs?: number;
  /** Extra allowed Origins, e.g. a UI dev server. "null" and no Origin are always allowed. */
  allowedOrigins?: string[];
  /** Model pulls and switching (/v1/models*); absent: those routes answer 503 models_unavailable. */
  models?: ModelsOptions;
  log?: (message: string) => void;
}

export interface CompanionStats {
  running: number;
  waiting: number;
  capacity: number;
  /** Open SSE streams. */
  streams: number;
  /** Event listeners registered on jobs (SSE streams and waiting OpenAI requests). */
  listeners: number;
}

export interface Companion {
  readonly server: Server;
  readonly queue: JobQueue;
  readonly limits: Limits;
  /** Code the user types into the plugin; POST /v1/pair exchanges it for the token. */
  readonly pairingCode: string;
  /** The bound URL once listening, else null. */
  readonly url: string | null;
  /** Starts listening on 127.0.0.1 and ::1; resolves with the URL the plugin uses, e.g. "http://localhost:7860". */
  listen(): Promise<string>;
  /** Interrupts queued and running jobs, ends SSE streams, closes connections. */
  close(): Promise<void>;
  stats(): CompanionStats;
}

export async function createCompanion(options: CompanionOptions): Promise<Companion> {
  if (options.token.length < MIN_TOKEN_LENGTH) throw new Error(`The token must be at least ${MIN_TOKEN_LENGTH} characters.`);
  if (options.maxQueue !== undefined && !(Number.isInteger(options.maxQueue) && options.maxQueue >= 1)) {
    throw new Error(`maxQueue must be a positive integer (got ${options.maxQueue}).`);
  }
  const log = options.log ?? (() => {});
  const { engine } = options;

  // 1. Services: limits and schemas for this engine and machine, the job store and queue, pairing.
  const info = engine.info;
  const limits = computeLimits(info, options.memoryBytes ?? defaultMemoryBytes());
  const schemas = buildSchemas(info, limits);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
  const uploadTimeoutMs = Math.max(bodyTimeoutMs, options.uploadTimeoutMs ?? 120_000);
  const store = new JobStore(options.dataDir);
  const { records, skipped } = await store.open();
  for (const name of skipped) log(`skipped unreadable job record jobs/${name}`);
  const uploadRules = {
    maxBytes: options.uploadLimit ?? MAX_UPLOAD_BYTES,
    retentionMs: options.uploadRetentionMs ?? UPLOAD_RETENTION_MS,
    maxTotalBytes: options.uploadsMaxBytes ?? MAX_UPLOADS_TOTAL_BYTES,
  };
  // uploads a queued or running job will read are pinned
  const uploads = new UploadStore(options.dataDir, { ...uploadRules, pinned: () => queue.initsInUse() });
  const queue: JobQueue = new JobQueue({
    engine,
    store,
    maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE,
    previewIntervalMs: options.previewIntervalMs ?? 500,
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
    newId: () => randomUUID(),
    log,
    readInit: (id) => readInit({ uploads, queue, store }, id),
  });
  queue.load(records);
  await uploads.open();
  const services: Services = {
    info,
    version: options.version,
    token: options.token,
    limits,
    schemas,
    bodyLimits: { maxBytes: bodyLimit, drainBytes: Math.max(bodyLimit, 8 * 1024 * 1024), timeoutMs: bodyTimeoutMs },
    // an image body may take longer to arrive
    uploadLimits: { maxBytes: uploadRules.maxBytes, drainBytes: uploadRules.maxBytes + 8 * 1024 * 1024, timeoutMs: uploadTimeoutMs },
    uploads,
    uploadSlots: new UploadSlots(options.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS),
    queue,
    store,
    openapi: buildOpenApi({ version: options.version, limits, schemas, bodyLimit, uploads: uploadRules }),
    pairingCode: pairingCode(options.token),
    pairing: new PairingLimiter(),
    heartbeatMs: options.heartbeatMs ?? 15_000,
    streams: new Map<ServerResponse, () => void>(),
  };

  // A switched model brings its own sizes and defaults: limits, schemas and the document follow it.
  const models = options.models ? new ModelServices({ ...options.models, dataDir: options.models.dataDir ?? options.dataDir }, log) : null;
  models?.switcher?.onSwitch(() => {
    Object.assign(limits, computeLimits(info, options.memoryBytes ?? defaultMemoryBytes()));
    Object.assign(schemas, buildSchemas(info, limits));
    services.openapi = buildOpenApi({ version: options.version, limits, schemas, bodyLimit, uploads: uploadRules });
  });

  // 2. One handler per route of ROUTES.
  const handlers: Record<OperationId, Handler> = {
    ...healthHandlers(services),
    pair: pairHandler(services),
    ...jobHandlers(services),
    streamJobEvents: eventsHandler(services),
    createImage: openAiHandler(services),
    createUpload: uploadHandler(services),
    editImage: editHandler(services),
    ...modelHandlers(services, models, log),
  };

  // 3. The envelope around them, and the server.
  let allowedHosts = new Set<string>();
  let url: string | null = null;
  let ipv6: LoopbackListener | null = null;
  let closing = false;
  const handle = createEnvelope({
    handlers,
    token: options.token,
    allowedHosts: () => allowedHosts,
    extraOrigins: new Set(options.allowedOrigins ?? []),
    closing: () => closing,
    log,
  });

  // Responses in flight per connection, so close() can end idle connections (also fresh ones that
  // never sent a request, which server.closeIdleConnections() misses) and let busy ones finish.
  const connections = new Map<Socket, number>();
  const headersTimeout = options.headersTimeoutMs ?? 20_000;
  const server = createServer({
    // node's own limit on a whole request is only a backstop: past our body timers, so they answer first
    requestTimeout: Math.max(headersTimeout, bodyTimeoutMs, uploadTimeoutMs) + REQUEST_TIMEOUT_MARGIN_MS,
    headersTimeout,
    // how often node looks for requests past those timeouts
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, headersTimeout / 2)),
    requireHostHeader: false,
  }, (req, res) => {
    const socket = req.socket;
    connections.set(socket, (connections.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const busy = connections.get(socket);
      if (busy === undefined) return;
      const left = busy - 1;
      connections.set(socket, left);
      if (closing && left === 0) socket.end();
    });
    void handle(req, res);
  });
  server.on('connection', (socket: Socket) => {
    connections.set(socket, 0);
    socket.once('close', () => connections.delete(socket));
  });
  // requests node's parser rejects never reach the envelope; answer them in the same error shape
  server.on('clientError', answerClientError);

  return {
    server,
    queue,
    limits,
    pairingCode: services.pairingCode,
    get url() {
      return url;
    },
    async listen() {
      ipv6 = await listenOnLoopbacks(server, options.port ?? DEFAULT_PORT, log);
      allowedHosts = allowedHostHeaders(ipv6.port);
      url = `http://localhost:${ipv6.port}`;
      return url;
    },
    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      const closedIpv6 = ipv6?.close();
      await queue.close();
      await models?.pulls.close();
      for (const end of services.streams.values()) end();
      for (const [socket, busy] of connections) if (busy === 0) socket.end();
      const timer = setTimeout(() => server.closeAllConnections(), 2_000);
      await Promise.all([closed, closedIpv6]);
      clearTimeout(timer);
    },
    stats() {
      const q = queue.stats;
      return { running: q.running, waiting: q.waiting, capacity: q.capacity, streams: services.streams.size, listeners: q.listeners };
    },
  };
}

/**
 * RAM a generation may use: all of it minus what this process holds once the engine is loaded
 * (createCompanion runs after loadPipeline, so weights kept in RAM are subtracted; weights on a GPU
 * are not, and GPU memory is not looked at). Other programs' use is ignored: it changes by the minute.
 */
function defaultMemoryBytes(): number {
  return Math.max(0, totalmem() - process.memoryUsage.rss());
}
