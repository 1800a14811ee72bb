/**
 * createCompanion: the node:http app around a job queue. It is built, not started; the CLI calls
 * listen(). Every request goes: Host check → Origin check → route (404/405, CORS preflight) →
 * token → query/body validation → handler. Handlers map 1:1 to ROUTES.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { totalmem } from 'node:os';
import { IMAGE_FORMATS, type GenerationMethod } from '../pipeline/types.ts';
import { MIN_TOKEN_LENGTH } from './data-dir.ts';
import type { Engine } from './engine.ts';
import { ApiError } from './errors.ts';
import { BASE_HEADERS, parseTarget, readJsonBody, sendError, sendJson, type BodyLimits } from './http.ts';
import { JobStore, type JobParams } from './jobs.ts';
import { buildOpenApi } from './openapi.ts';
import { PairingLimiter, pairingCode, pairingCodeMatches } from './pairing.ts';
import { TERMINAL_EVENTS, type JobEvent, type JobView } from './protocol.ts';
import { JobQueue, type JobSpec } from './queue.ts';
import { matchRoute, type OperationId, type Route } from './routes.ts';
import { buildSchemas, computeLimits, DEFAULT_LIST_LIMIT, jobIdProblem, MAX_SEED, parseOrThrow, type JobBody, type Limits, type OpenAiBody } from './schemas.ts';
import { allowedHostHeaders, bearerToken, hostAllowed, isLoopbackHost, originAllowed, safeEqual } from './security.ts';

/** The port the Figma manifest allows (manifest.json devAllowedDomains). */
export const DEFAULT_PORT = 7860;
export const DEFAULT_MAX_QUEUE = 16;
export const DEFAULT_BODY_LIMIT = 64 * 1024;

export interface CompanionOptions {
  engine: Engine;
  dataDir: string;
  token: string;
  version: string;
  /** Default DEFAULT_PORT; 0 picks a free one. */
  port?: number;
  /** Loopback only: 127.0.0.1 (default), localhost or ::1. */
  host?: string;
  /** Most jobs waiting behind the running one; more get 429 queue_full. */
  maxQueue?: number;
  /** RAM the memory budget is derived from (default: see `defaultMemoryBytes`). */
  memoryBytes?: number;
  /** Largest JSON body in bytes (default 64 kB). */
  bodyLimit?: number;
  /** At most one preview per job per this many ms (default 500); the engine only renders those. */
  previewIntervalMs?: number;
  /** SSE keep-alive comment interval (default 15 s). */
  heartbeatMs?: number;
  /** How long cancel and close wait for the engine to stop (default 10 s). */
  stopTimeoutMs?: number;
  /** Extra allowed Origins, e.g. a UI dev server. "null" and no Origin are always allowed. */
  allowedOrigins?: string[];
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
  /** Starts listening; resolves with the URL, e.g. "http://127.0.0.1:7860". */
  listen(): Promise<string>;
  /** Interrupts queued and running jobs, ends SSE streams, closes connections. */
  close(): Promise<void>;
  stats(): CompanionStats;
}

type Handler = (ctx: Context) => Promise<void>;

interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  route: Route;
  params: Record<string, string>;
  query: Record<string, string>;
  /** CORS headers for this request's Origin. */
  headers: Record<string, string>;
}

const PREFLIGHT_HEADERS = 'Authorization, Content-Type, Last-Event-ID';

export async function createCompanion(options: CompanionOptions): Promise<Companion> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) throw new Error(`The companion only listens on this machine: host must be 127.0.0.1, localhost or ::1 (got ${host}).`);
  if (options.token.length < MIN_TOKEN_LENGTH) throw new Error(`The token must be at least ${MIN_TOKEN_LENGTH} characters.`);
  if (options.maxQueue !== undefined && !(Number.isInteger(options.maxQueue) && options.maxQueue >= 1)) {
    throw new Error(`maxQueue must be a positive integer (got ${options.maxQueue}).`);
  }
  const log = options.log ?? (() => {});
  const { engine } = options;
  const info = engine.info;
  const limits = computeLimits(info, options.memoryBytes ?? defaultMemoryBytes());
  const schemas = buildSchemas(info, limits);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const bodyLimits: BodyLimits = { maxBytes: bodyLimit, drainBytes: Math.max(bodyLimit, 8 * 1024 * 1024) };
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const extraOrigins = new Set(options.allowedOrigins ?? []);
  const code = pairingCode(options.token);
  const pairing = new PairingLimiter();
  const openapi = buildOpenApi({ version: options.version, limits, schemas, bodyLimit });

  const store = new JobStore(options.dataDir);
  const { records, skipped } = await store.open();
  for (const name of skipped) log(`skipped unreadable job record jobs/${name}`);
  const queue = new JobQueue({
    engine,
    store,
    maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE,
    previewIntervalMs: options.previewIntervalMs ?? 500,
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
    newId: () => randomUUID(),
    log,
  });
  queue.load(records);

  let allowedHosts = new Set<string>();
  let url: string | null = null;
  let closing = false;
  /** Open SSE responses, each with the function that ends it. */
  const streams = new Map<ServerResponse, () => void>();

  const handlers: Record<OperationId, Handler> = {
    async getHealth(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const q = queue.stats;
      sendJson(ctx.res, 200, {
        ok: true,
        version: options.version,
        model: info.model,
        demo: info.demo,
        nativeResolution: info.nativeResolution,
        pixelsPerToken: info.pixelsPerToken,
        minSide: limits.minSide,
        maxSide: limits.maxSide,
        maxPixels: limits.maxPixels,
        maxSteps: limits.maxSteps,
        provider: info.provider,
        skippedProviders: info.providerSelection?.skipped ?? [],
        adapter: info.providerSelection?.adapter ?? null,
        defaultSteps: info.defaultSteps,
        defaultGuidance: info.defaultGuidance,
        methods: info.methods,
        formats: IMAGE_FORMATS,
        queueLength: q.running + q.waiting,
        queue: { running: q.running, waiting: q.waiting, capacity: q.capacity },
      }, ctx.headers);
    },

    async getOpenApi(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, openapi, ctx.headers);
    },

    async pair(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      // taken before the body is read, so concurrent requests cannot all pass the check
      const attempt = pairing.reserve();
      if (!attempt) {
        const wait = pairing.retryAfterSeconds();
        throw new ApiError('too_many_attempts', `Too many wrong pairing codes; try again in ${wait} s.`, { headers: { 'Retry-After': String(wait) } });
      }
      let body: { code: string };
      try {
        body = parseOrThrow(schemas.pair, await requireBody(ctx.req), 'body');
      } catch (error) {
        attempt.release(); // no code was compared
        throw error;
      }
      if (!pairingCodeMatches(body.code, code)) {
        throw new ApiError('pairing_failed', 'Wrong pairing code: use the code the companion printed when it started.', { field: 'code' });
      }
      attempt.release(); // only wrong codes use up the budget
      sendJson(ctx.res, 200, { token: options.token }, ctx.headers);
    },

    async createJob(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const body = parseOrThrow(schemas.job, await requireBody(ctx.req), 'body');
      const { id, ...request } = body;
      const [outcome] = await queue.submit([{ id, params: resolveParams(body), request: { ...request }, source: 'jobs' }]);
      sendJson(ctx.res, outcome.created ? 202 : 200, outcome.job, { ...ctx.headers, Location: `/v1/jobs/${outcome.job.id}` });
    },

    async listJobs(ctx) {
      const query = parseOrThrow(schemas.listQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, { jobs: queue.list(query.limit ?? DEFAULT_LIST_LIMIT) }, ctx.headers);
    },

    async getJob(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, requireJob(ctx.params.id), ctx.headers);
    },

    async streamJobEvents(ctx) {
      parseOrThrow(schemas.tokenQuery, ctx.query, 'query');
      const job = requireJob(ctx.params.id);
      const { req, res } = ctx;
      if (req.headers['last-event-id'] === 'end' && job.position === null) {
        res.writeHead(204, { ...BASE_HEADERS, ...ctx.headers });
        res.end();
        return;
      }
      res.writeHead(200, {
        ...BASE_HEADERS,
        ...ctx.headers,
        'Content-Type': 'text/event-stream; charset=utf-8',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      // after end() the response may take long to flush to a client that reads slowly (or never):
      // nothing may be written then, so every write checks, and ending stops the heartbeat first
      const write = (chunk: string) => {
        if (!res.writableEnded && !res.destroyed) res.write(chunk);
      };
      let unsubscribe: () => void = () => {};
      const heartbeat = setInterval(() => write(': ping\n\n'), heartbeatMs);
      heartbeat.unref();
      const stop = () => {
        clearInterval(heartbeat);
        unsubscribe();
      };
      const end = () => {
        stop();
        if (!res.writableEnded && !res.destroyed) res.end();
      };
      const cleanup = () => {
        stop();
        streams.delete(res);
        // the client went away (its half-open socket would otherwise linger): drop the connection
        if (!res.writableEnded) res.destroy();
      };
      res.on('close', cleanup); // client went away, or the ended stream was flushed
      res.on('error', cleanup);
      write(': dype job events\n\n');
      streams.set(res, end);
      const send = (event: JobEvent) => {
        // a slow reader gets no more previews than it can take; state events are never dropped
        if (event.event === 'preview' && res.writableLength > 4 * 1024 * 1024) return;
        const terminal = TERMINAL_EVENTS.has(event.event);
        write(`${terminal ? 'id: end\n' : ''}data: ${JSON.stringify(event)}\n\n`);
        if (terminal) end();
      };
      unsubscribe = queue.subscribe(job.id, send);
      // unsubscribe now that it is assigned: the replay was terminal, or the client is already gone
      if (res.destroyed) cleanup();
      else if (res.writableEnded) end();
    },

    async cancelJob(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const id = validId(ctx.params.id);
      parseOrThrow(schemas.emptyBody, await readJsonBody(ctx.req, bodyLimits), 'body');
      sendJson(ctx.res, 200, await queue.cancel(id), ctx.headers);
    },

    async getJobImage(ctx) {
      parseOrThrow(schemas.tokenQuery, ctx.query, 'query');
      const id = validId(ctx.params.id);
      const record = queue.record(id);
      if (!record) throw new ApiError('job_not_found', `No job "${id}".`);
      if (record.state !== 'done' || !record.result) throw new ApiError('image_not_ready', `Job "${id}" is ${record.state}; it has no image.`);
      const path = store.imagePath(record.result);
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        throw new ApiError('image_missing', `The image of job "${id}" (images/${record.result.file}) is no longer in the data folder.`);
      }
      const { res } = ctx;
      res.writeHead(200, {
        ...BASE_HEADERS,
        ...ctx.headers,
        'Cache-Control': 'private, max-age=3600',
        'Content-Type': record.result.mimeType,
        'Content-Length': size,
        'Content-Disposition': `inline; filename="${record.result.file}"`,
      });
      const file = createReadStream(path);
      file.on('error', () => res.destroy());
      res.on('close', () => {
        file.destroy();
        if (!res.writableFinished) res.destroy();
      });
      file.pipe(res);
    },

    async createImage(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const body: OpenAiBody = parseOrThrow(schemas.openai, await requireBody(ctx.req), 'body');
      if (body.response_format !== undefined && body.response_format !== 'b64_json') {
        throw new ApiError('unsupported_response_format', `response_format ${JSON.stringify(body.response_format).slice(0, 40)} is not supported: this server does not host images at URLs; use "b64_json".`, { field: 'response_format' });
      }
      const [width, height] = body.size ?? defaultSize();
      const n = body.n ?? 1;
      const firstSeed = body.seed ?? randomSeed();
      const specs: JobSpec[] = Array.from({ length: n }, (_, i) => ({
        params: resolveParams({ prompt: body.prompt, width, height, steps: body.steps, seed: (firstSeed + i) % (MAX_SEED + 1) }),
        request: { ...body, size: `${width}x${height}`, index: i },
        source: 'openai',
      }));
      // the client hanging up cancels whatever has not finished (also if it hangs up while we submit)
      let jobs: JobView[] = [];
      let answered = false;
      let gone = false;
      const cancelAll = () => jobs.forEach((job) => void queue.cancel(job.id).catch(() => {}));
      ctx.res.on('close', () => {
        gone = !answered;
        if (gone) cancelAll();
      });
      jobs = (await queue.submit(specs)).map((o) => o.job);
      if (gone) cancelAll();
      const finished = await Promise.all(jobs.map((job) => queue.wait(job.id)));
      answered = true;
      const failed = finished.find((job) => job.state !== 'done');
      if (failed) throw openAiFailure(failed);
      const data = await Promise.all(
        finished.map(async (job) => ({ b64_json: (await readFile(store.imagePath(queue.record(job.id)!.result!))).toString('base64') })),
      );
      sendJson(ctx.res, 200, { created: Math.floor(Date.now() / 1000), data }, ctx.headers);
    },
  };

  function openAiFailure(job: JobView): ApiError {
    if (job.state === 'cancelled') return new ApiError('job_cancelled', `Job ${job.id} was cancelled before it finished.`);
    if (job.state === 'interrupted') return new ApiError('shutting_down', job.error?.message);
    return new ApiError('generation_failed', `Job ${job.id} failed: ${job.error?.message ?? 'unknown error'}`);
  }

  function defaultSize(): [number, number] {
    const side = Math.min(info.nativeResolution, limits.maxSide);
    return [side, side];
  }

  function resolveParams(body: Pick<JobBody, 'prompt' | 'width' | 'height' | 'seed' | 'steps' | 'guidance' | 'method' | 'format'>): JobParams {
    const [w, h] = defaultSize();
    return {
      prompt: body.prompt,
      width: body.width ?? w,
      height: body.height ?? h,
      seed: body.seed ?? randomSeed(),
      steps: body.steps ?? info.defaultSteps,
      guidance: body.guidance ?? info.defaultGuidance,
      method: body.method ?? defaultMethod(info.methods),
      format: body.format ?? 'png',
    };
  }

  function requireJob(rawId: string): JobView {
    const id = validId(rawId);
    const job = queue.get(id);
    if (!job) throw new ApiError('job_not_found', `No job "${id}".`);
    return job;
  }

  async function requireBody(req: IncomingMessage): Promise<unknown> {
    const body = await readJsonBody(req, bodyLimits);
    if (body === undefined) throw new ApiError('invalid_json', 'The body is empty; send a JSON object.');
    return body;
  }

  function corsHeaders(origin: string | undefined): Record<string, string> {
    if (origin === undefined) return {};
    return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': 'Location, Retry-After', Vary: 'Origin' };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let headers: Record<string, string> = {};
    try {
      if (!hostAllowed(req.headers.host, allowedHosts)) {
        throw new ApiError('bad_host', `Host ${JSON.stringify(req.headers.host ?? '').slice(0, 80)} is not allowed; use ${[...allowedHosts].join(' or ')}.`);
      }
      const origin = req.headers.origin;
      if (!originAllowed(origin, extraOrigins)) throw new ApiError('bad_origin', `Origin ${JSON.stringify(origin).slice(0, 80)} is not allowed.`);
      headers = corsHeaders(origin);
      if (closing) throw new ApiError('shutting_down');

      const target = parseTarget(req.url);
      const method = req.method ?? 'GET';
      const match = matchRoute(method, target.segments);
      if (!match) throw new ApiError('not_found', `No route ${method} ${target.segments.length ? '/' + target.segments.join('/') : '/'}.`.slice(0, 200));
      if ('allowed' in match) {
        if (method === 'OPTIONS') {
          preflight(req, res, match.allowed, headers);
          return;
        }
        throw new ApiError('method_not_allowed', `${method} is not allowed here; use ${match.allowed.join(' or ')}.`.slice(0, 200), {
          headers: { Allow: [...match.allowed, 'OPTIONS'].join(', ') },
        });
      }
      if (match.route.auth !== 'none') authorize(req, target.query, match.route.auth === 'token-or-query');
      await handlers[match.route.operationId]({ req, res, route: match.route, params: match.params, query: target.query, headers });
    } catch (error) {
      const apiError = error instanceof ApiError ? error : internal(error);
      try {
        if (res.headersSent) res.destroy();
        else sendError(res, apiError, headers);
      } catch {
        res.destroy();
      }
    }
  }

  function internal(error: unknown): ApiError {
    log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return new ApiError('internal_error');
  }

  function preflight(req: IncomingMessage, res: ServerResponse, allowed: string[], headers: Record<string, string>): void {
    const extra: Record<string, string> = {};
    if (req.headers['access-control-request-private-network'] === 'true') extra['Access-Control-Allow-Private-Network'] = 'true';
    res.writeHead(204, {
      ...BASE_HEADERS,
      ...headers,
      ...extra,
      'Access-Control-Allow-Methods': [...allowed, 'OPTIONS'].join(', '),
      'Access-Control-Allow-Headers': PREFLIGHT_HEADERS,
      'Access-Control-Max-Age': '600',
    });
    res.end();
  }

  function authorize(req: IncomingMessage, query: Record<string, string>, queryAllowed: boolean): void {
    const given = bearerToken(req.headers.authorization) ?? (queryAllowed ? query.token : undefined);
    if (given === undefined || given === null || !safeEqual(given, options.token)) {
      throw new ApiError('unauthorized', undefined, { headers: { 'WWW-Authenticate': 'Bearer realm="dype"' } });
    }
  }

  // Responses in flight per connection, so close() can end idle connections (also fresh ones that
  // never sent a request, which server.closeIdleConnections() misses) and let busy ones finish.
  const connections = new Map<Socket, number>();
  const server = createServer({ requestTimeout: 60_000, headersTimeout: 20_000, requireHostHeader: false }, (req, res) => {
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
  // requests node's parser rejects never reach handle(); answer them in the same error shape
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(new ApiError('bad_request', `The HTTP request is malformed (${error.code ?? 'parse error'}).`).toBody());
    socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });

  return {
    server,
    queue,
    limits,
    pairingCode: code,
    get url() {
      return url;
    },
    listen() {
      return new Promise<string>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        server.once('error', onError);
        server.listen(options.port ?? DEFAULT_PORT, host, () => {
          server.off('error', onError);
          const { port } = server.address() as AddressInfo;
          allowedHosts = allowedHostHeaders(port, host);
          url = `http://${host === '::1' ? '[::1]' : host}:${port}`;
          resolve(url);
        });
      });
    },
    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      await queue.close();
      for (const end of streams.values()) end();
      for (const [socket, busy] of connections) if (busy === 0) socket.end();
      const timer = setTimeout(() => server.closeAllConnections(), 2_000);
      await closed;
      clearTimeout(timer);
    },
    stats() {
      const q = queue.stats;
      return { running: q.running, waiting: q.waiting, capacity: q.capacity, streams: streams.size, listeners: q.listeners };
    },
  };
}

function validId(id: string): string {
  const problem = jobIdProblem(id);
  if (problem) throw new ApiError('invalid_job_id', `Job id ${JSON.stringify(id).slice(0, 80)} is not valid: it ${problem}.`, { field: 'id' });
  return id;
}

/**
 * RAM a generation may use: all of it minus what this process holds once the engine is loaded
 * (createCompanion runs after loadPipeline, so weights kept in RAM are subtracted; weights on a GPU
 * are not, and GPU memory is not looked at). Other programs' use is ignored: it changes by the minute.
 */
function defaultMemoryBytes(): number {
  return Math.max(0, totalmem() - process.memoryUsage.rss());
}

function randomSeed(): number {
  return randomInt(0, MAX_SEED + 1);
}

/** DyPE-YaRN is the method the paper recommends; otherwise the engine's first. */
function defaultMethod(methods: readonly GenerationMethod[]): GenerationMethod {
  return methods.includes('dy-yarn') ? 'dy-yarn' : (methods[0] ?? 'base');
}
