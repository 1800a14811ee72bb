/**
 * Every call to the companion (the local HTTP service, runtime/server) lives here. Failures become a
 * CompanionError with a kind the UI can show: not running, wrong token, incompatible, or rejected
 * (the companion's own message, e.g. a wrong pairing code).
 */
import type { ImageFormat, JobBody, Method } from '../plugin/messages.ts';

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
  params: { prompt: string; width: number; height: number; seed: number; steps: number; guidance: number | null; method: Method; format: ImageFormat };
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
  | (EventBase & { event: 'done'; result: JobResultView })
  | (EventBase & { event: 'failed'; error: { code: string; message: string } })
  | (EventBase & { event: 'cancelled' })
  | (EventBase & { event: 'interrupted'; error: { code: string; message: string } });

const TERMINAL = new Set<JobEvent['event']>(['done', 'failed', 'cancelled', 'interrupted']);

export const START_HINT = 'Start it with “npm start” in the DyPE project folder.';

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

    /** GET /v1/health (no token). Throws 'incompatible' when the answer lacks what this plugin needs. */
    async health(): Promise<Health> {
      const h = await json<Partial<Health>>('/v1/health', { auth: false });
      const fine = h.ok === true && typeof h.version === 'string' && typeof h.model === 'string' && typeof h.maxSide === 'number' && typeof h.minSide === 'number' && typeof h.maxPixels === 'number' && Array.isArray(h.methods);
      if (!fine) throw new CompanionError('incompatible', `The companion at ${base} speaks a different API version (${String(h.version ?? 'unknown')}); update the plugin or the companion.`);
      return h as Health;
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

    async job(id: string): Promise<JobView> {
      return json<JobView>(`/v1/jobs/${encodeURIComponent(id)}`);
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
    async image(id: string): Promise<{ bytes: Uint8Array; mimeType: string }> {
      const res = await request(`/v1/jobs/${encodeURIComponent(id)}/image`);
      return { bytes: new Uint8Array(await res.arrayBuffer()), mimeType: res.headers.get('Content-Type') ?? 'image/png' };
    },

    /** URL for an <img> (which cannot send headers, hence ?token=). */
    imageUrl(id: string): string {
      return `${base}/v1/jobs/${encodeURIComponent(id)}/image?token=${encodeURIComponent(token ?? '')}`;
    },
  };
}

export type ConnectionStatus = 'checking' | 'connected' | 'unpaired' | 'not-running' | 'wrong-token' | 'incompatible';

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

/** Is `url` something fetch can reach: http(s) with a host. */
export function validCompanionUrl(url: string): boolean {
  try {
    const parsed = new URL(url.trim());
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.hostname !== '';
  } catch {
    return false;
  }
}
