/**
 * Every call to the companion (the local HTTP service, runtime/server) lives here. Failures become a
 * CompanionError with a kind the UI can show: not running, blocked by the browser (Local Network
 * Access), wrong token, incompatible, or rejected (the companion's own message, e.g. a wrong pairing code).
 */
import { createParser } from 'eventsource-parser';
import * as z from 'zod';
import {
  asLocalhost,
  COMPANION_MAJOR,
  COMPANION_ORIGINS,
  ErrorBodySchema,
  HealthSchema,
  JobEventSchema,
  JobListSchema,
  JobViewSchema,
  ActiveViewSchema,
  ModelsViewSchema,
  PullEventSchema,
  PullJobViewSchema,
  PullListViewSchema,
  TERMINAL_EVENTS,
  UploadViewSchema,
  type Health,
  type JobBody,
  type JobEvent,
  type JobView,
  type UploadMimeType,
  type UploadView,
  type ActiveView,
  type ModelsView,
  type PullEvent,
  type PullJobView,
} from '../runtime/contract/index.ts';

export type { Health, JobEvent, JobView, UploadView, ModelsView, PullEvent, PullJobView };
export type { JobResultView } from '../runtime/contract/index.ts';

const PULL_END_EVENTS: ReadonlySet<PullEvent['event']> = new Set(['done', 'failed', 'cancelled']);

const PairAnswerSchema = z.object({ token: z.string() });

/** 'blocked': the browser does not let this page reach apps on this computer (Chrome's Local Network Access). */
export type ErrorKind = 'not-running' | 'blocked' | 'wrong-token' | 'incompatible' | 'rejected';

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

export const START_HINT = 'Start it with “npm start” in the DyPE project folder.';

/**
 * The names Chrome gave the permission a public page (figma.com in a browser) needs before it may
 * reach this computer (Local Network Access): `loopback-network` now, `local-network-access` before.
 */
const LOOPBACK_PERMISSIONS = ['loopback-network', 'local-network-access'];

/** Figma's desktop app (Electron) is not governed by the browser's site settings, so their advice does not apply. */
const DESKTOP_APP = /\bElectron\//;

/** That permission's state for this page, or null where the browser has no such permission (other browsers). */
async function loopbackPermission(): Promise<PermissionState | null> {
  for (const name of LOOPBACK_PERMISSIONS) {
    try {
      return (await navigator.permissions.query({ name } as unknown as PermissionDescriptor)).state;
    } catch {
      // a name this browser does not know: try the next
    }
  }
  return null;
}

/**
 * Why nothing came back from `base`. A fetch the browser blocks fails just like one nothing answers,
 * so the permission tells them apart: denied means the browser refuses this page access to this
 * computer, whether or not the companion runs. ('denied' is also what an iframe gets that was not
 * delegated the permission; Figma's desktop app is then taken at its word, as not running.)
 */
async function unreachable(base: string): Promise<CompanionError> {
  if ((await loopbackPermission()) === 'denied' && !DESKTOP_APP.test(navigator.userAgent)) {
    return new CompanionError('blocked', `The browser does not let Figma reach apps on this computer, so the companion at ${base} is out of reach.`);
  }
  return new CompanionError('not-running', `The companion is not running at ${base}. ${START_HINT}`);
}

/** Why the health answer is not one this UI can work with, or null when it is. */
export function healthProblem(answer: unknown): string | null {
  const need = `${COMPANION_MAJOR}.x`;
  const given = typeof answer === 'object' && answer !== null ? (answer as { version?: unknown }).version : undefined;
  const version = typeof given === 'string' ? given : 'unknown';
  const major = /^(\d+)\.\d+\.\d+/.exec(version)?.[1];
  if (major === undefined || Number(major) !== COMPANION_MAJOR) return `Incompatible companion (version ${version}, need ${need}).`;
  const parsed = HealthSchema.safeParse(answer);
  if (!parsed.success) return `Incompatible companion (version ${version}, need ${need}): its health check lacks ${problemFields(parsed.error)}.`;
  return null;
}

function problemFields(error: z.ZodError): string {
  return [...new Set(error.issues.map((issue) => issue.path.map(String).join('.') || 'ok'))].join(', ');
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
      throw await unreachable(base);
    }
    if (res.ok) return res;
    throw refusal(path, res.status, res.statusText, await res.json().catch(() => null), auth);
  }

  /** The CompanionError for an answer that is not 2xx, from its status and JSON body. */
  function refusal(path: string, status: number, statusText: string, answer: unknown, auth: boolean): CompanionError {
    const parsed = ErrorBodySchema.safeParse(answer);
    const body = parsed.success ? parsed.data : null;
    const code = body?.error.code ?? null;
    if (status === 401 && auth) {
      return new CompanionError('wrong-token', 'The companion did not accept the saved token (it may have a new one). Pair again with the code it prints.', code, 401);
    }
    if (status === 404 && code === null) return new CompanionError('incompatible', `${base} answered, but it is not a DyPE companion (no ${path}).`, null, 404);
    return new CompanionError('rejected', body?.error.message ?? `The companion answered ${status} ${statusText}.`, code, status);
  }

  /** The answer's JSON, checked against the contract: a companion that answers otherwise is incompatible. */
  async function json<S extends z.ZodType>(schema: S, path: string, init?: RequestInit & { auth?: boolean }): Promise<z.output<S>> {
    const res = await request(path, init);
    let answer: unknown;
    try {
      answer = await res.json();
    } catch {
      throw new CompanionError('incompatible', `${base}${path} did not answer with JSON; is this a DyPE companion?`);
    }
    return checked(schema, path, answer);
  }

  function checked<S extends z.ZodType>(schema: S, path: string, answer: unknown): z.output<S> {
    const parsed = schema.safeParse(answer);
    if (!parsed.success) throw new CompanionError('incompatible', `The companion's answer to ${path} does not fit this plugin (${problemFields(parsed.error)}); update the plugin or the companion.`);
    return parsed.data;
  }

  /** Reads an SSE stream of JSON events checked against `schema`, calling `onEvent` for each; resolves with the one `isEnd` accepts. */
  async function readEvents<S extends z.ZodType>(path: string, schema: S, isEnd: (event: z.output<S>) => boolean, onEvent: (event: z.output<S>) => void, during: string, signal?: AbortSignal): Promise<z.output<S>> {
    const res = await request(path, { headers: { Accept: 'text/event-stream' }, signal });
    if (!res.body) throw new CompanionError('incompatible', 'The companion sent no event stream.');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let terminal: z.output<S> | null = null;
    let malformed: string | null = null;
    const parser = createParser({
      onEvent(message) {
        if (terminal || malformed) return;
        let data: unknown;
        try {
          data = JSON.parse(message.data);
        } catch {
          data = undefined;
        }
        const parsed = schema.safeParse(data);
        if (!parsed.success) {
          malformed = message.data.slice(0, 80);
          return;
        }
        onEvent(parsed.data);
        if (isEnd(parsed.data)) terminal = parsed.data;
      },
    });
    try {
      while (!terminal && !malformed) {
        let chunk: ReadableStreamReadResult<string>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (signal?.aborted) throw error;
          throw new CompanionError('not-running', `The companion stopped ${during}. ${START_HINT}`);
        }
        if (chunk.done) break;
        parser.feed(chunk.value);
      }
    } finally {
      void reader.cancel().catch(() => {});
    }
    if (malformed) throw new CompanionError('incompatible', `The companion sent an event this plugin does not understand: ${malformed}`);
    if (terminal) return terminal;
    throw new CompanionError('not-running', `The companion closed the event stream before it ended. ${START_HINT}`);
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
      const answer = await json(z.unknown(), '/v1/health', { auth: false });
      const problem = healthProblem(answer);
      if (problem) throw new CompanionError('incompatible', problem);
      return HealthSchema.parse(answer);
    },

    /** POST /v1/pair: exchanges the printed code for the token. */
    async pair(code: string): Promise<string> {
      return (await json(PairAnswerSchema, '/v1/pair', { ...post({ code }), auth: false })).token;
    },

    async submit(body: JobBody): Promise<JobView> {
      return json(JobViewSchema, '/v1/jobs', post(body));
    },

    /**
     * POST /v1/uploads with the image as the raw body, reporting bytes sent as they go. XMLHttpRequest,
     * because its upload events are the only upload progress Chromium gives over HTTP/1.1 (a streamed
     * fetch body needs HTTP/2, and the companion speaks node:http's HTTP/1.1).
     */
    upload(bytes: Uint8Array<ArrayBuffer>, type: UploadMimeType, onProgress: (sent: number, total: number) => void, signal?: AbortSignal): Promise<UploadView> {
      const path = '/v1/uploads';
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', base + path);
        xhr.responseType = 'text';
        xhr.setRequestHeader('Content-Type', type);
        if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
        xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : bytes.byteLength);
        xhr.onerror = () => void unreachable(base).then(reject);
        xhr.onabort = () => reject(new DOMException('The upload was cancelled.', 'AbortError'));
        xhr.onload = () => {
          let answer: unknown = null;
          try {
            answer = JSON.parse(xhr.responseText);
          } catch {
            // not JSON: refusal() and the check below say so in words
          }
          if (xhr.status < 200 || xhr.status >= 300) return reject(refusal(path, xhr.status, xhr.statusText, answer, true));
          try {
            const view = checked(UploadViewSchema, path, answer);
            onProgress(bytes.byteLength, bytes.byteLength);
            resolve(view);
          } catch (error) {
            reject(error);
          }
        };
        if (signal?.aborted) return reject(new DOMException('The upload was cancelled.', 'AbortError'));
        signal?.addEventListener('abort', () => xhr.abort(), { once: true });
        xhr.send(new Blob([bytes], { type }));
      });
    },

    async cancel(id: string): Promise<JobView> {
      return json(JobViewSchema, `/v1/jobs/${encodeURIComponent(id)}/cancel`, post());
    },

    /** Recent jobs, newest first (GET /v1/jobs); also how the token is checked. */
    async list(limit = 20): Promise<JobView[]> {
      return (await json(JobListSchema, `/v1/jobs?limit=${limit}`)).jobs;
    },

    /** Reads the job's SSE stream, calling `onEvent` for each event; resolves with the terminal one. */
    stream(id: string, onEvent: (event: JobEvent) => void, signal?: AbortSignal): Promise<JobEvent> {
      return readEvents(`/v1/jobs/${encodeURIComponent(id)}/events`, JobEventSchema, (e) => TERMINAL_EVENTS.has(e.event), onEvent, 'while generating', signal);
    },

    /** Installed and catalog models (GET /v1/models). */
    async models(): Promise<ModelsView> {
      return json(ModelsViewSchema, '/v1/models');
    },

    /** Starts downloading a model (a catalog name): POST /v1/models/pulls. Pulling it again after a cancel resumes it. */
    async pullModel(model: string): Promise<PullJobView> {
      return json(PullJobViewSchema, '/v1/models/pulls', post({ model }));
    },

    /** This companion's pulls, newest first (GET /v1/models/pulls): one may be running already. */
    async modelPulls(): Promise<PullJobView[]> {
      return (await json(PullListViewSchema, '/v1/models/pulls')).pulls;
    },

    /** A pull's SSE stream; resolves with the event that ends it (done, failed, cancelled). */
    pullEvents(id: string, onEvent: (event: PullEvent) => void, signal?: AbortSignal): Promise<PullEvent> {
      return readEvents(`/v1/models/pulls/${encodeURIComponent(id)}/events`, PullEventSchema, (e) => PULL_END_EVENTS.has(e.event), onEvent, 'while downloading', signal);
    },

    async cancelPull(id: string): Promise<PullJobView> {
      return json(PullJobViewSchema, `/v1/models/pulls/${encodeURIComponent(id)}/cancel`, post());
    },

    /** Switches the loaded model once the running job ends (POST /v1/models/active). */
    async setActiveModel(model: string): Promise<ActiveView> {
      return json(ActiveViewSchema, '/v1/models/active', post({ model }));
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
export type ConnectionStatus = 'checking' | 'connected' | 'unpaired' | 'not-running' | 'blocked' | 'wrong-token' | 'incompatible' | 'not-allowed';

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

/** The origin of `url` (e.g. "http://localhost:7860"), or null when it is not an http(s) URL. */
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
  const named = asLocalhost(origin);
  if (named !== null) return `Figma lets plugins reach this computer only as localhost: use ${named}.`;
  const { hostname, port } = new URL(origin);
  if (hostname !== 'localhost') return `The companion runs on this computer only: use ${allowed}.`;
  return `Figma lets this plugin reach only ${allowed}, the addresses in its manifest. To use ${origin}, add it to networkAccess.allowedDomains in manifest.json, rebuild the plugin and start the companion with “npm start -- --port ${port || '80'}”.`;
}
