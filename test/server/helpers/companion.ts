/** Starts a real companion on the loopbacks (127.0.0.1 and ::1), port 0, in a temp data folder, and talks to it over real HTTP. */
import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCompanion, type Companion, type CompanionOptions } from '../../../runtime/server/index.ts';
import { UNDECLARED_ERROR } from '../../../runtime/server/handlers/envelope.ts';
import type { JobEvent } from '../../../runtime/server/protocol.ts';
import { FakeEngine } from './fake-engine.ts';

export const TOKEN = 'test-token-0123456789abcdef';

export interface Harness {
  companion: Companion;
  engine: FakeEngine;
  url: string;
  port: number;
  dataDir: string;
  api: Api;
  close(): Promise<void>;
}

export async function startCompanion(options: Partial<CompanionOptions> & { engine?: FakeEngine; keepDataDir?: boolean } = {}): Promise<Harness> {
  const { engine = new FakeEngine(), keepDataDir, ...rest } = options;
  const dataDir = rest.dataDir ?? (await mkdtemp(join(tmpdir(), 'dype-server-')));
  // every test that meets an error a route's OpenAPI entry does not list fails at close
  const undeclared: string[] = [];
  const log = (line: string) => {
    if (line.startsWith(UNDECLARED_ERROR)) undeclared.push(line);
    rest.log?.(line);
  };
  const companion = await createCompanion({ engine, dataDir, token: TOKEN, port: 0, version: '0.0.0-test', previewIntervalMs: 0, ...rest, log });
  const url = await companion.listen();
  return {
    companion,
    engine,
    url,
    port: Number(new URL(url).port),
    dataDir,
    api: new Api(url),
    async close() {
      await companion.close();
      if (!keepDataDir) await rm(dataDir, { recursive: true, force: true });
      if (undeclared.length) throw new Error(`answers missing from the OpenAPI document (routes.ts errors):\n${undeclared.join('\n')}`);
    },
  };
}

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export class Api {
  constructor(
    readonly url: string,
    readonly token: string | null = TOKEN,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async get<T = any>(path: string, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const res = await fetch(this.url + path, { headers: this.headers(headers) });
    return { status: res.status, headers: res.headers, body: (await parse(res)) as T };
  }

  async post<T = any>(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> {
    const init: RequestInit = { method: 'POST', headers: this.headers(body === undefined ? headers : { 'Content-Type': 'application/json', ...headers }) };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(this.url + path, init);
    return { status: res.status, headers: res.headers, body: (await parse(res)) as T };
  }

  async bytes(path: string): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
    const res = await fetch(this.url + path, { headers: this.headers() });
    return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
  }

  /** Submits a job and waits for its terminal event over SSE. */
  async run(body: Record<string, unknown>): Promise<{ job: any; events: JobEvent[] }> {
    const submitted = await this.post('/v1/jobs', body);
    if (submitted.status !== 202) throw new Error(`submit failed: ${submitted.status} ${JSON.stringify(submitted.body)}`);
    const events = await this.events(submitted.body.id).all();
    return { job: (await this.get(`/v1/jobs/${submitted.body.id}`)).body, events };
  }

  events(jobId: string, options: { query?: string; headers?: Record<string, string> } = {}): EventStream {
    const headers = options.query ? (options.headers ?? {}) : this.headers(options.headers);
    return new EventStream(`${this.url}/v1/jobs/${jobId}/events${options.query ?? ''}`, headers);
  }
}

async function parse(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const TERMINAL = new Set(['done', 'failed', 'cancelled', 'interrupted']);

/** A minimal SSE client over fetch: collects `data:` JSON events; `abort()` hangs up. */
export class EventStream {
  readonly events: JobEvent[] = [];
  readonly ids: string[] = [];
  status = 0;
  private readonly controller = new AbortController();
  private readonly waiters: Array<() => void> = [];
  private readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string>) {
    this.done = this.read(url, headers).finally(() => this.wake());
  }

  private async read(url: string, headers: Record<string, string>): Promise<void> {
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: this.controller.signal });
    } catch {
      return;
    }
    this.status = res.status;
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      return;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          const id = block.split('\n').find((l) => l.startsWith('id: '));
          if (!data) continue;
          this.events.push(JSON.parse(data) as JobEvent);
          if (id) this.ids.push(id.slice(4));
          this.wake();
        }
      }
    } catch {
      // aborted
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the first event matching `predicate` (past or future). */
  async until(predicate: (e: JobEvent) => boolean, timeoutMs = 10_000): Promise<JobEvent> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.done.then(() => (ended = true));
    for (;;) {
      const hit = this.events.find(predicate);
      if (hit) return hit;
      if (ended) throw new Error(`stream ended without the event; got ${this.events.map((e) => e.event).join(',')}`);
      if (Date.now() > deadline) throw new Error(`timed out; got ${this.events.map((e) => e.event).join(',')}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** Waits until the server ends the stream and returns every event. */
  async all(timeoutMs = 20_000): Promise<JobEvent[]> {
    await Promise.race([this.done, new Promise((_, reject) => setTimeout(() => reject(new Error('stream did not end')), timeoutMs))]);
    return this.events;
  }

  get terminal(): JobEvent | undefined {
    return this.events.find((e) => TERMINAL.has(e.event));
  }

  abort(): void {
    this.controller.abort();
  }
}

/** Raw request with full control over headers (fetch forbids setting Host); `address` defaults to 127.0.0.1. */
export function rawRequest(
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; setHost?: boolean; address?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: options.address ?? '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/v1/health', headers: options.headers, setHost: options.setHost ?? true, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
