/**
 * Defects an adversarial run found at the companion's edges: deeply nested JSON, clients that hang
 * up or stall mid-body, request timeouts, and retrying a job id whose job ended without an image.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeEngine } from './helpers/fake-engine.ts';
import { Api, startCompanion, TOKEN, waitFor, type Harness } from './helpers/companion.ts';

const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** Opens a raw connection and writes `text`; the caller decides whether and how it ends. */
function rawSocket(port: number, text: string): Promise<{ socket: Socket; reply: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(text);
      resolve({ socket, reply });
    });
    let received = '';
    const reply = new Promise<string>((done) => {
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('close', () => done(received));
    });
    socket.on('error', reject);
  });
}

function postHead(port: number, path: string, length: number, auth = false): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n` +
    `${auth ? `Authorization: Bearer ${TOKEN}\r\n` : ''}\r\n`
  );
}

describe('companion edges', () => {
  let h: Harness | undefined;
  const logs: string[] = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    logs.length = 0;
  });

  it('answers JSON nested 5000 deep inside a typed field with 400, on every route', async () => {
    h = await startCompanion({ log: (line) => logs.push(line) });
    const noAuth = new Api(h.url, null);
    const cases: Array<[Api, string, string, string]> = [
      [noAuth, '/v1/pair', `{"code":${deep(5000)}}`, 'code'],
      [h.api, '/v1/jobs', `{"prompt":${deep(5000)}}`, 'prompt'],
      [h.api, '/v1/jobs', `{"prompt":"a","id":${deep(5000)}}`, 'id'],
      [h.api, '/v1/jobs', `{"prompt":"a","width":${deep(5000)}}`, 'width'],
      [h.api, '/v1/jobs', `{"prompt":"a","width":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, 'width'],
      [h.api, '/v1/images/generations', `{"prompt":${deep(5000)}}`, 'prompt'],
    ];
    for (const [api, path, body, field] of cases) {
      const res = await api.post(path, body, { 'Content-Type': 'application/json' });
      expect(res.status, `${path} ${field}`).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field });
    }
    expect(logs).toEqual([]);
  });

  it('stays quiet when a client hangs up in the middle of its body', async () => {
    h = await startCompanion({ log: (line) => logs.push(line) });
    for (const path of ['/v1/pair', '/v1/jobs']) {
      const { socket } = await rawSocket(h.port, `${postHead(h.port, path, 100, true)}{"code":`);
      await sleep(50);
      socket.destroy();
    }
    await sleep(100);
    expect(logs).toEqual([]);
    expect((await h.api.get('/v1/health')).status).toBe(200);
  });

  it('does not lock pairing for requests whose body never arrives, and bounds how long a body may stall', async () => {
    h = await startCompanion({ bodyTimeoutMs: 400 });
    const port = h.port;
    const stalled = await Promise.all(Array.from({ length: 6 }, () => rawSocket(port, `${postHead(port, '/v1/pair', 20)}{"co`)));
    await sleep(50);
    const right = await new Api(h.url, null).post('/v1/pair', { code: h.companion.pairingCode });
    expect(right.status).toBe(200);
    expect(right.body).toEqual({ token: TOKEN });
    // the stalled requests get 408 and their connection is closed
    for (const { reply } of stalled) {
      const text = await reply;
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe('request_timeout');
    }
  });

  it('answers a request whose headers never finish with 408', async () => {
    h = await startCompanion({ headersTimeoutMs: 300 });
    const { reply } = await rawSocket(h.port, `GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n`);
    const text = await reply;
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe('request_timeout');
  });

  it('lets an image body take as long as its own timer allows: node cuts a request only past every body timeout', async () => {
    h = await startCompanion();
    expect(h.companion.server.requestTimeout).toBeGreaterThan(120_000); // the default upload body timeout
    await h.close();
    h = await startCompanion({ bodyTimeoutMs: 500, uploadTimeoutMs: 3_000, headersTimeoutMs: 300 });
    const image = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#336699' } }).png().toBuffer();
    const head =
      `POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nContent-Type: image/png\r\nContent-Length: ${image.length}\r\n` +
      `Authorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`;
    const { socket, reply } = await rawSocket(h.port, head);
    socket.write(image.subarray(0, 10));
    await sleep(1_500); // longer than the JSON body timeout, shorter than the upload one
    socket.write(image.subarray(10));
    expect(await reply).toMatch(/^HTTP\/1\.1 201/);
  });

  it('lets a client retry its id once the job failed or was cancelled, and keeps a done job', async () => {
    h = await startCompanion({ engine: new FakeEngine({ script: (req) => (req.prompt.startsWith('explode') ? { failAtStep: 1 } : {}) }) });
    const failing = { id: 'retry-failed', prompt: 'explode please', width: 64, height: 64, seed: 1 };
    const first = await h.api.post('/v1/jobs', failing);
    expect(first.status).toBe(202);
    expect((await h.api.events('retry-failed').all()).at(-1)?.event).toBe('failed');
    const retried = await h.api.post('/v1/jobs', failing);
    expect(retried.status).toBe(202);
    expect(retried.body.createdAt > first.body.createdAt).toBe(true);
    await h.api.events('retry-failed').all();
    expect(h.engine.calls.filter((c) => c.request.prompt === 'explode please')).toHaveLength(2);

    const release = h.engine.hold();
    const held = { id: 'retry-cancelled', prompt: 'held', width: 64, height: 64, seed: 2 };
    expect((await h.api.post('/v1/jobs', held)).status).toBe(202);
    expect((await h.api.post('/v1/jobs/retry-cancelled/cancel')).body.state).toBe('cancelled');
    release();
    const again = await h.api.post('/v1/jobs', held);
    expect(again.status).toBe(202);
    expect((await h.api.events('retry-cancelled').all()).at(-1)?.event).toBe('done');
    // a done job is the answer, not a retry
    expect((await h.api.post('/v1/jobs', held)).status).toBe(200);
    await waitFor(() => h!.companion.stats().running === 0);
    expect((await h.api.get('/v1/jobs')).body.jobs.map((j: { id: string }) => j.id)).toEqual(['retry-cancelled', 'retry-failed']);
  });
});
