/** DNS rebinding (Host), foreign Origins, tokens, CORS preflight and pairing. */
import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCompanion } from '../../runtime/server/index.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Api, rawRequest, startCompanion, TOKEN, type Harness } from './helpers/companion.ts';

describe('request security', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCompanion();
  });
  afterAll(() => h.close());

  describe('Host header (DNS rebinding)', () => {
    it.each(['evil.example', 'evil.example:PORT', '127.0.0.1:1', 'localhost', '127.0.0.2:PORT', '0.0.0.0:PORT', '[::1]:1', '[::]:PORT', '::1:PORT', 'localhost.evil.example:PORT'])('refuses Host %s', async (host) => {
      for (const path of ['/v1/health', '/v1/jobs']) {
        const res = await rawRequest(h.port, { path, headers: { Host: host.replace('PORT', String(h.port)), Authorization: `Bearer ${TOKEN}` } });
        expect(res.status).toBe(403);
        expect(res.body.error.code).toBe('bad_host');
      }
    });

    it('refuses a request without Host', async () => {
      const res = await rawRequest(h.port, { setHost: false });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('bad_host');
    });

    it.each(['127.0.0.1:PORT', 'localhost:PORT', 'LOCALHOST:PORT', '[::1]:PORT'])('accepts Host %s', async (host) => {
      const res = await rawRequest(h.port, { headers: { Host: host.replace('PORT', String(h.port)) } });
      expect(res.status).toBe(200);
    });
  });

  describe('listening', () => {
    it('is reached as localhost, and answers on 127.0.0.1 and on ::1', async () => {
      expect(h.url).toBe(`http://localhost:${h.port}`);
      for (const [address, host] of [['127.0.0.1', '127.0.0.1'], ['::1', '[::1]']]) {
        const res = await rawRequest(h.port, { address, headers: { Host: `${host}:${h.port}` } });
        expect(res.status, address).toBe(200);
        expect(res.body.ok).toBe(true);
      }
    });

    it('answers on nothing else: another loopback address or this machine\'s network addresses are refused', async () => {
      // a wildcard listener (0.0.0.0 or ::) would accept these too
      const others = ['127.0.0.2', ...Object.values(networkInterfaces()).flat().filter((a) => a !== undefined && !a.internal && !a.address.startsWith('fe80')).map((a) => a!.address)];
      for (const address of others) {
        const outcome = await new Promise<string>((resolve) => {
          const socket = connect({ host: address, port: h.port, timeout: 2_000 }, () => {
            socket.destroy();
            resolve('connected');
          });
          socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
          socket.on('timeout', () => {
            socket.destroy();
            resolve('timeout');
          });
        });
        expect(outcome, address).not.toBe('connected');
      }
    });

    it('does not start when another program holds its port on ::1, and frees 127.0.0.1 again', async () => {
      const other = createNetServer();
      await new Promise<void>((resolve) => other.listen(0, '::1', resolve));
      const { port } = other.address() as AddressInfo;
      const dataDir = await mkdtemp(join(tmpdir(), 'dype-listen-'));
      try {
        const companion = await createCompanion({ engine: new FakeEngine(), dataDir, token: TOKEN, port, version: '0.0.0-test' });
        await expect(companion.listen()).rejects.toThrow(`another program listens on [::1]:${port}`);
        await companion.close();
        const probe = createNetServer();
        await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', resolve));
        await new Promise((resolve) => probe.close(resolve));
      } finally {
        await new Promise((resolve) => other.close(resolve));
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });

  describe('Origin', () => {
    it.each(['https://www.figma.com', 'http://127.0.0.1:' + 1, 'https://evil.example', 'file://', 'NULL'])('refuses Origin %s even with the token', async (origin) => {
      const res = await h.api.get('/v1/jobs', { Origin: origin });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('bad_origin');
      const health = await h.api.get('/v1/health', { Origin: origin });
      expect(health.status).toBe(403);
    });

    it('allows Origin: null (the Figma plugin iframe) with CORS headers', async () => {
      const res = await h.api.get('/v1/jobs', { Origin: 'null' });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('null');
      expect(res.headers.get('vary')).toBe('Origin');
    });

    it('answers preflight for allowed origins, including private network access', async () => {
      const res = await fetch(`${h.url}/v1/jobs`, {
        method: 'OPTIONS',
        headers: { Origin: 'null', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type', 'Access-Control-Request-Private-Network': 'true' },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('null');
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
      expect(res.headers.get('access-control-allow-private-network')).toBe('true');
      const foreign = await fetch(`${h.url}/v1/jobs`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
      expect(foreign.status).toBe(403);
    });
  });

  describe('token', () => {
    const routes: Array<[string, string]> = [
      ['GET', '/v1/jobs'],
      ['POST', '/v1/jobs'],
      ['GET', '/v1/jobs/some-id'],
      ['GET', '/v1/jobs/some-id/events'],
      ['POST', '/v1/jobs/some-id/cancel'],
      ['GET', '/v1/jobs/some-id/image'],
      ['POST', '/v1/images/generations'],
    ];
    const variants: Array<[string, Record<string, string>]> = [
      ['no header', {}],
      ['wrong token', { Authorization: 'Bearer not-the-token-at-all-000' }],
      ['token prefix', { Authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
      ['token + extra', { Authorization: `Bearer ${TOKEN}x` }],
      ['basic scheme', { Authorization: `Basic ${TOKEN}` }],
      ['bare token', { Authorization: TOKEN }],
    ];
    for (const [method, path] of routes) {
      it.each(variants)(`${method} ${path}: %s → 401`, async (_name, headers) => {
        const res = await fetch(h.url + path, { method, headers: { ...headers, 'Content-Type': 'application/json' }, body: method === 'POST' ? '{"prompt":"x"}' : undefined });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        const body = (await res.json()) as any;
        expect(body.error.code).toBe('unauthorized');
      });
    }

    it('accepts ?token= only on the event stream and image routes', async () => {
      const noAuth = new Api(h.url, null);
      const job = (await h.api.run({ prompt: 'token query', width: 64, height: 64 })).job;
      expect((await noAuth.get(`/v1/jobs/${job.id}/image?token=${TOKEN}`)).status).toBe(200);
      expect((await noAuth.get(`/v1/jobs/${job.id}/events?token=${TOKEN}`)).status).toBe(200);
      expect((await noAuth.get(`/v1/jobs/${job.id}/image?token=wrong`)).status).toBe(401);
      expect((await noAuth.get(`/v1/jobs/${job.id}?token=${TOKEN}`)).status).toBe(401);
      expect((await noAuth.get(`/v1/jobs?token=${TOKEN}`)).status).toBe(401);
    });
  });

  describe('pairing', () => {
    it('exchanges the pairing code for the token, ignoring case and dashes', async () => {
      const code = h.companion.pairingCode;
      expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{8}$/);
      const noAuth = new Api(h.url, null);
      const res = await noAuth.post('/v1/pair', { code: `${code.slice(0, 4).toLowerCase()}-${code.slice(4)}` });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ token: TOKEN });
    });
  });
});

describe('pairing rate limit', () => {
  let p: Harness | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await p?.close();
    p = undefined;
  });

  it('rate limits wrong codes, even if the right one follows; the right one works after the window', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    p = await startCompanion();
    const noAuth = new Api(p.url, null);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await noAuth.post('/v1/pair', { code: 'ZZZZZZZZ' });
      statuses.push(res.status);
      expect(res.body.error.code).toBe(res.status === 401 ? 'pairing_failed' : 'too_many_attempts');
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const right = await noAuth.post('/v1/pair', { code: p.companion.pairingCode });
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBe(60);

    vi.setSystemTime(Date.now() + 59_000);
    expect((await noAuth.post('/v1/pair', { code: p.companion.pairingCode })).status).toBe(429);
    vi.setSystemTime(Date.now() + 1_000);
    const after = await noAuth.post('/v1/pair', { code: p.companion.pairingCode });
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ token: TOKEN });
  });

  it('counts concurrent attempts before reading their bodies: of 20 at once, 5 are compared', async () => {
    p = await startCompanion();
    // all 20 requests are in (headers sent) before any body arrives
    let sendBodies!: () => void;
    const bodiesSent = new Promise<void>((resolve) => (sendBodies = resolve));
    const replies = Array.from({ length: 20 }, () => pairWithLateBody(p!.port, 'ZZZZZZZZ', bodiesSent));
    await sleep(200);
    sendBodies();
    const statuses = await Promise.all(replies);
    expect(statuses.filter((s) => s === 401).length).toBe(5);
    expect(statuses.filter((s) => s === 429).length).toBe(15);
  });

  it('does not count right codes or malformed bodies', async () => {
    p = await startCompanion();
    const noAuth = new Api(p.url, null);
    for (let i = 0; i < 6; i++) expect((await noAuth.post('/v1/pair', { code: p.companion.pairingCode })).status).toBe(200);
    for (let i = 0; i < 6; i++) expect((await noAuth.post('/v1/pair', { code: 5 })).status).toBe(400);
    const wrong = await Promise.all(Array.from({ length: 6 }, () => noAuth.post('/v1/pair', { code: 'ZZZZZZZZ' })));
    expect(wrong.map((r) => r.status).sort()).toEqual([401, 401, 401, 401, 401, 429]);
  });
});

/** POST /v1/pair that sends its headers at once and its body when `later` resolves; resolves with the status. */
function pairWithLateBody(port: number, code: string, later: Promise<void>): Promise<number> {
  const body = JSON.stringify({ code });
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/v1/pair', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.flushHeaders();
    void later.then(() => req.end(body));
  });
}
