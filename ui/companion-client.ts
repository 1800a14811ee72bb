/**
 * Every call to the companion (the local HTTP service, runtime/server) lives here. Failures become a
 * CompanionError with a kind the UI can show: not running, wrong token, incompatible, or rejected
 * (the companion's own message, e.g. a wrong pairing code).
 */
import { COMPANION_ORIGINS, type DypeExponent, type ImageFormat, type JobBody, type Method } from '../plugin/messages.ts';

export type ErrorKind = 'not-running' | 'wrong-token' | 'incompatible' | 'rejected';

export class CompanionError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly code: string | null = null,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'CompanionError';
  }
}

/** GET /v1/health. */
export interface Health {
  ok: true;
  version: string;
  model: string;
  demo: boolean;
  nativeResolution: number;
  minSide: number;
  maxSide: number;
  maxPixels: number;
  maxSteps: number;
  provider: string;
  defaultSteps: number;
  defaultGuidance: number | null;
  /** DyPE λ defaults of the model (absent on companions from before λ could be set). */
  defaultDypeScale?: number;
  defaultDypeExponent?: DypeExponent;
  methods: Method[];
  queueLength: number;
}

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface JobResultView {
  width: number;
  height: number;
  seed: number;
  steps: number;
  method: Method;
  model: string;
  format: ImageFormat;
  mimeType: string;
  url: string;
}

/** A job as the companion describes it (runtime/server/protocol.ts JobView). */
export interface JobView {
  id: string;
  state: JobState;
  params: { prompt: string; width: number; height: number; seed: number; steps: number; guidance: number | null; method: Method; format: ImageFormat; dypeScale?: number; dypeExponent?: DypeExponent };
  createdAt: string;
  finishedAt: string | null;
  progress: number;
  step: number;
  position: number | null;
  error: { code: string; message: string } | null;
  result: JobResultView | null;
}

interface EventBase {
  jobId: string;
  state: JobState;
  progress: number;
}

/** One SSE message of GET /v1/jobs/{id}/events. */
export type JobEvent =
  | (EventBase & { event: 'queued'; position: number })
  | (EventBase & { event: 'started' })
  | (EventBase & { event: 'progress'; step: number; steps: number; elapsedMs: number; etaMs: number })
  | (EventBase & { event: 'preview'; step: number; png: string; width: number; height: number })
  | (EventBase & { event: 'decoding'; tile: number; tiles: number })
  | (EventBase & { event: 'done'; result: JobResultView })
  | (EventBase & { event: 'failed'; error: { code: string; message: string } })
  | (EventBase & { event: 'cancelled' })
  | (EventBase & { event: 'interrupted'; error: { code: string; message: string } });

const TERMINAL = new Set<JobEvent['event']>(['done', 'failed', 'cancelled', 'interrupted']);

export const START_HINT = 'Start it with “npm start” in the DyPE project folder.';

/** The companion's major version (its package version, in GET /v1/health) whose API this UI speaks. */
const COMPANION_MAJOR = 0;

/** Fields of GET /v1/health the UI relies on, with their type. */
const HEALTH_FIELDS: Record<string, 'string' | 'number' | 'boolean' | 'array'> = {
  version: 'string',
  model: 'string',
  demo: 'boolean',
  minSide: 'number',
  maxSide: 'number',
  maxPixels: 'number',
  maxSteps: 'number',
  provider: 'string',
  defaultSteps: 'number',
  methods: 'array',
};

/** Why the health answer is not one this UI can work with, or null when it is. */
export function healthProblem(h: Record<string, unknown>): string | null {
  const need = `${COMPANION_MAJOR}.x`;
  const version = typeof h.version === 'string' ? h.version : 'unknown';
  const major = /^(\d+)\.\d+\.\d+/.exec(version)?.[1];
  if (major === undefined || Number(major) !== COMPANION_MAJOR) return `Incompatible companion (version ${version}, need ${need}).`;
  const missing = Object.entries(HEALTH_FIELDS)
    .filter(([key, type]) => (type === 'array' ? !Array.isArray(h[key]) : typeof h[key] !== type))
    .map(([key]) => key);
  if (h.ok !== true || missing.length > 0) return `Incompatible companion (version ${version}, need ${need}): its health check lacks ${missing.join(', ') || 'ok'}.`;
  return null;
}

export type CompanionClient = ReturnType<typeof createCompanionClient>;

export function createCompanionClient(baseUrl: string, token: string | null) {
  const base = baseUrl.trim().replace(/\/+$/, '');

  async function request(path: string, init: RequestInit & { auth?: boolean } = {}): Promise<Response> {
    const { auth = true, headers, ...rest } = init;
    const allHeaders: Record<string, string> = { ...(headers as Record<string, string> | undefined) };
    if (auth && token) allHeaders.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(base + path, { ...rest, headers: allHeaders });
    } catch (error) {
      if (rest.signal?.aborted) throw error;
      throw new CompanionError('not-running', `The companion is not running at ${base}. ${START_HINT}`);
    }
    if (res.ok) return res;
    const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    const code = body?.error?.code ?? null;
    if (res.status === 401 && auth) {
      throw new CompanionError('wrong-token', 'The companion did not accept the saved token (it may have a new one). Pair again with the code it prints.', code, 401);
    }
    if (res.status === 404 && code === null) throw new CompanionError('incompatible', `${base} answered, but it is not a DyPE companion (no ${path}).`, null, 404);
    throw new CompanionError('rejected', body?.error?.message ?? `The companion answered ${res.status} ${res.statusText}.`, code, res.status);
  }

  async function json<T>(path: string, init?: RequestInit & { auth?: boolean }): Promise<T> {
    const res = await request(path, init);
    try {
      return (await res.json()) as T;
    } catch {
      throw new CompanionError('incompatible', `${base}${path} did not answer with JSON; is this a DyPE companion?`);
    }
  }

  const post = (body?: unknown): RequestInit => ({
    method: 'POST',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

  return {
    baseUrl: base,
    hasToken: token !== null && token !== '',

    /** GET /v1/health (no token). Throws 'incompatible' for another major version or an answer that lacks what this UI needs. */
    async health(): Promise<Health> {
      const h = await json<Record<string, unknown>>('/v1/health', { auth: false });
      const problem = healthProblem(h);
      if (problem) throw new CompanionError('incompatible', problem);
      return h as unknown as Health;
    },

    /** POST /v1/pair: exchanges the printed code for the token. */
    async pair(code: string): Promise<string> {
      const body = await json<{ token?: unknown }>('/v1/pair', { ...post({ code }), auth: false });
      if (typeof body.token !== 'string') throw new CompanionError('incompatible', 'The companion answered the pairing without a token.');
      return body.token;
    },

    async submit(body: JobBody): Promise<JobView> {
      return json<JobView>('/v1/jobs', post(body));
    },

    async cancel(id: string): Promise<JobView> {
      return json<JobView>(`/v1/jobs/${encodeURIComponent(id)}/cancel`, post());
    },

    /** Recent jobs, newest first (GET /v1/jobs); also how the token is checked. */
    async list(limit = 20): Promise<JobView[]> {
      return (await json<{ jobs: JobView[] }>(`/v1/jobs?limit=${limit}`)).jobs;
    },

    /** Reads the job's SSE stream, calling `onEvent` for each event; resolves with the terminal one. */
    async stream(id: string, onEvent: (event: JobEvent) => void, signal?: AbortSignal): Promise<JobEvent> {
      const res = await request(`/v1/jobs/${encodeURIComponent(id)}/events`, { headers: { Accept: 'text/event-stream' }, signal });
      if (!res.body) throw new CompanionError('incompatible', 'The companion sent no event stream.');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (error) {
            if (signal?.aborted) throw error;
            throw new CompanionError('not-running', `The companion stopped while generating. ${START_HINT}`);
          }
          if (chunk.done) break;
          buffer += decoder.decode(chunk.value, { stream: true });
          let end: number;
          while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
            const data = block
              .split(/\r?\n/)
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trimStart())
              .join('\n');
            if (!data) continue;
            const event = JSON.parse(data) as JobEvent;
            onEvent(event);
            if (TERMINAL.has(event.event)) return event;
          }
        }
      } finally {
        void reader.cancel().catch(() => {});
      }
      throw new CompanionError('not-running', `The companion closed the event stream before the job finished. ${START_HINT}`);
    },

    /** The finished image's bytes (GET /v1/jobs/{id}/image). */
    async image(id: string): Promise<{ bytes: Uint8Array<ArrayBuffer>; mimeType: string }> {
      const res = await request(`/v1/jobs/${encodeURIComponent(id)}/image`);
      return { bytes: new Uint8Array(await res.arrayBuffer()), mimeType: res.headers.get('Content-Type') ?? 'image/png' };
    },

    /** URL for an <img> (which cannot send headers, hence ?token=). */
    imageUrl(id: string): string {
      return `${base}/v1/jobs/${encodeURIComponent(id)}/image?token=${encodeURIComponent(token ?? '')}`;
    },
  };
}

/** 'not-allowed': the URL is one Figma will not let the plugin reach (not in manifest.json). */
export type ConnectionStatus = 'checking' | 'connected' | 'unpaired' | 'not-running' | 'wrong-token' | 'incompatible' | 'not-allowed';

export interface Connection {
  status: ConnectionStatus;
  health: Health | null;
  /** Plain-words explanation of the status. */
  message: string;
}

/** Health first (is it there, does it speak our API), then the token (GET /v1/jobs). */
export async function probeCompanion(client: CompanionClient): Promise<Connection> {
  let health: Health;
  try {
    health = await client.health();
  } catch (error) {
    return failure(error, null);
  }
  if (!client.hasToken) return { status: 'unpaired', health, message: 'Pair once with the code the companion printed when it started.' };
  try {
    await client.list(1);
    return { status: 'connected', health, message: `Connected to ${health.model}${health.demo ? ' (demo model)' : ''}.` };
  } catch (error) {
    return failure(error, health);
  }
}

function failure(error: unknown, health: Health | null): Connection {
  if (error instanceof CompanionError) {
    if (error.kind === 'rejected') return { status: 'incompatible', health, message: error.message };
    return { status: error.kind, health, message: error.message };
  }
  return { status: 'not-running', health, message: error instanceof Error ? error.message : String(error) };
}

/** The origin of `url` (e.g. "http://127.0.0.1:7860"), or null when it is not an http(s) URL. */
function originOf(url: string): string | null {
  try {
    const parsed = new URL(url.trim());
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.hostname !== '' ? parsed.origin : null;
  } catch {
    return null;
  }
}

/**
 * Why the plugin cannot reach `url`, or null when it can. Figma lets a plugin's UI reach only the
 * origins manifest.json lists (COMPANION_ORIGINS); `testOrigins` are the UI test harness's companions.
 */
export function companionUrlProblem(url: string, testOrigins: readonly string[] = []): string | null {
  const origin = originOf(url);
  if (origin === null) return `Use an address like ${COMPANION_ORIGINS[0]}.`;
  if (COMPANION_ORIGINS.includes(origin) || testOrigins.includes(origin)) return null;
  const allowed = COMPANION_ORIGINS.join(' or ');
  const { hostname, port } = new URL(origin);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost') return `The companion runs on this computer only: use ${allowed}.`;
  return `Figma lets this plugin reach only ${allowed}, the addresses in its manifest. To use ${origin}, add it to networkAccess.allowedDomains in manifest.json, rebuild the plugin and start the companion with “npm start -- --port ${port || '80'}”.`;
}
