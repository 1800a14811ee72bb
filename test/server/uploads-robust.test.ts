/**
 * Uploads as a hostile or unlucky client meets them: uploads that queued jobs need survive the cap,
 * leftovers of a crash are recovered at start, bodies go to disk within a concurrency cap, damaged
 * images are refused and only the image is stored, and a refused edit stores nothing.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UploadStore } from '../../runtime/server/uploads.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { startCompanion, TOKEN, waitFor, type Harness } from './helpers/companion.ts';

/** Noise pixels: they do not compress, so a PNG of side² px is about side² × 3 bytes. */
const noise = (side: number, channels = 3, seed = 1) => {
  const px = Buffer.alloc(side * side * channels);
  let s = seed;
  for (let i = 0; i < px.length; i++) px[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  return sharp(px, { raw: { width: side, height: side, channels: channels as 3 } });
};
const pngOf = (side: number, seed = 1) => noise(side, 3, seed).png().toBuffer();

const upload = (h: Harness, body: Buffer, type = 'image/png') =>
  fetch(`${h.url}/v1/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': type }, body }).then(async (r) => ({ status: r.status, headers: r.headers, body: (await r.json()) as any }));

const uploadNames = async (dataDir: string) => (await readdir(join(dataDir, 'uploads')).catch(() => [] as string[])).sort();

describe('upload retention with jobs waiting', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('keeps an upload that a queued job names, however far over the cap the other uploads go', async () => {
    const engine = new FakeEngine({ stepMs: 1 });
    const a = await pngOf(48, 7);
    h = await startCompanion({ engine, uploadsMaxBytes: 3 * a.length });
    const init = await upload(h, a);
    expect(init.status).toBe(201);
    const release = engine.hold();
    expect((await h.api.post('/v1/jobs', { prompt: 'ahead', width: 64, height: 64 })).status).toBe(202);
    const waiting = await h.api.post('/v1/jobs', { prompt: 'from A', width: 64, height: 64, init: init.body.id });
    expect(waiting.status).toBe(202);
    expect(waiting.body.position).toBe(1);
    // ten more uploads, each used after A: A is the least recently used by far
    for (let i = 0; i < 10; i++) expect((await upload(h, await pngOf(48, 100 + i))).status).toBe(201);
    release();
    const done = await h.api.events(waiting.body.id).until((e) => e.event === 'done' || e.event === 'failed');
    expect(done.event, JSON.stringify(done)).toBe('done');
    expect(Buffer.from(engine.calls.find((c) => c.request.prompt === 'from A')!.request.init!.bytes).equals(a)).toBe(true);
    // the cap still holds for the rest: most of the ten are gone
    expect((await uploadNames(h.dataDir)).filter((n) => n.endsWith('.png')).length).toBeLessThanOrEqual(4);
  });
});

describe('uploads folder at start and its cap', () => {
  it('removes an image whose record was never written, however new, and temp files; keeps whole uploads', async () => {
    const first = await startCompanion({ keepDataDir: true });
    const kept = await upload(first, await pngOf(32));
    await first.close();
    const dir = join(first.dataDir, 'uploads');
    // what kill -9 leaves between the image's rename and its record, and mid-body: both a moment old
    await writeFile(join(dir, 'upload-abcdefghijklmnopqrstuvwx.png'), await pngOf(32, 2));
    await writeFile(join(dir, '.body-0123456789abcdef01.tmp'), Buffer.alloc(5000));
    const second = await startCompanion({ dataDir: first.dataDir });
    try {
      expect(await uploadNames(second.dataDir)).toEqual([`${kept.body.id}.json`, `${kept.body.id}.png`]);
      expect((await second.api.post('/v1/jobs', { prompt: 'x', width: 64, height: 64, init: kept.body.id })).status).toBe(202);
    } finally {
      await second.close();
    }
  });

  it('counts everything in the folder toward the cap, bodies being received too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dype-uploads-'));
    try {
      let now = Date.parse('2026-01-01T00:00:00Z');
      const store = new UploadStore(dir, { now: () => now, maxTotalBytes: 8000 });
      await store.open();
      const image = { width: 1, height: 1, format: 'png' as const };
      const a = await store.save(new Uint8Array(1000), image);
      now += 1000;
      const b = await store.save(new Uint8Array(1000), image);
      // a body of 5000 bytes arriving: with it, the folder is over 8000 bytes at the next save
      await writeFile(store.tempPath(), Buffer.alloc(5000));
      now += 1000;
      const c = await store.save(new Uint8Array(1000), image);
      expect(await store.use(a.id)).toBeNull();
      expect(await store.use(b.id)).not.toBeNull();
      expect(await store.use(c.id)).not.toBeNull();
      let total = 0;
      for (const name of await readdir(join(dir, 'uploads'))) total += (await stat(join(dir, 'uploads', name))).size;
      expect(total).toBeLessThanOrEqual(8000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** An upload whose body is sent by hand: part of it now, the rest when asked (or never). */
function slowUpload(port: number, total: number): { req: ClientRequest; response: Promise<IncomingMessage & { text: string }> } {
  const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/uploads', agent: false, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'image/png', 'Content-Length': String(total) } });
  const response = new Promise<IncomingMessage & { text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve(Object.assign(res, { text })));
    });
    req.on('error', reject);
  });
  return { req, response };
}

describe('upload bodies', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCompanion({ maxConcurrentUploads: 2 });
  });
  afterAll(() => h.close());

  it('go to disk as they arrive, at most 2 at once: the next gets 429 with Retry-After, and a slot frees when one ends', async () => {
    const image = await pngOf(256);
    const first = slowUpload(h.port, image.length);
    const second = slowUpload(h.port, image.length);
    first.req.write(image.subarray(0, 100_000));
    second.req.write(image.subarray(0, 1000));
    // the first body's bytes are in a file, not held in memory
    await waitFor(async () => {
      for (const name of await uploadNames(h.dataDir)) if (name.startsWith('.body-') && (await stat(join(h.dataDir, 'uploads', name))).size === 100_000) return true;
      return false;
    });
    const third = await upload(h, image);
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('too_many_uploads');
    expect(third.headers.get('retry-after')).toBe('2');
    first.req.end(image.subarray(100_000));
    const firstDone = await first.response;
    expect(firstDone.statusCode).toBe(201);
    expect((await upload(h, image)).status).toBe(201);
    second.response.catch(() => {}); // it never gets one
    second.req.destroy(); // hangs up mid-body: its slot and its file go
    await waitFor(async () => (await uploadNames(h.dataDir)).every((name) => !name.startsWith('.body-')));
    expect((await upload(h, image)).status).toBe(201);
    const stored = await readFile(join(h.dataDir, 'uploads', `${JSON.parse(firstDone.text).id}.png`));
    expect(stored.equals(image)).toBe(true);
  });
});

describe('damaged images', () => {
  let h: Harness;
  let png: Buffer;
  let jpeg: Buffer;
  let webp: Buffer;
  beforeAll(async () => {
    h = await startCompanion();
    [png, jpeg, webp] = await Promise.all([noise(96).png().toBuffer(), noise(96).jpeg().toBuffer(), noise(96).webp().toBuffer()]);
  });
  afterAll(() => h.close());

  /** The JPEG with its frame header (SOF0) claiming side × side. */
  const claimSize = (bytes: Buffer, side: number) => {
    const out = Buffer.from(bytes);
    for (let at = 2; at < out.length; at += 2 + out.readUInt16BE(at + 2)) {
      if (out[at + 1] === 0xc0) {
        out.writeUInt16BE(side, at + 5);
        out.writeUInt16BE(side, at + 7);
        return out;
      }
    }
    throw new Error('no SOF0');
  };
  const scribble = (bytes: Buffer, from: number, length: number) => {
    const out = Buffer.from(bytes);
    for (let i = from; i < from + length; i++) out[i] = (i * 131 + 7) & 255;
    return out;
  };

  it.each([
    ['a JPEG whose frame header claims 16000×16000', () => claimSize(jpeg, 16000), 'image/jpeg'],
    ['a JPEG with bytes changed in its scan data', () => scribble(jpeg, jpeg.length - 600, 64), 'image/jpeg'],
    ['a PNG without IEND', () => png.subarray(0, png.length - 12), 'image/png'],
    ['a WebP cut short', () => webp.subarray(0, webp.length - 100), 'image/webp'],
  ])('refuses %s with 400 invalid_image and stores nothing', async (_what, make, type) => {
    const before = await uploadNames(h.dataDir);
    const res = await upload(h, make(), type);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_image');
    expect(await uploadNames(h.dataDir)).toEqual(before);
  });

  it.each([
    ['PNG', () => png, 'image/png'],
    ['JPEG', () => jpeg, 'image/jpeg'],
    ['WebP', () => webp, 'image/webp'],
  ])('stores only the image of a %s with bytes after its end, and counts only those', async (_what, image, type) => {
    const res = await upload(h, Buffer.concat([image(), Buffer.alloc(200_000, 0x5a)]), type);
    expect(res.status).toBe(201);
    expect(res.body.bytes).toBe(image().length);
    const name = (await uploadNames(h.dataDir)).find((n) => n.startsWith(res.body.id) && !n.endsWith('.json'))!;
    expect((await readFile(join(h.dataDir, 'uploads', name))).equals(image())).toBe(true);
  });
});

describe('/v1/images/edits refused for a full queue', () => {
  it('answers 429 queue_full and stores no upload', async () => {
    const engine = new FakeEngine({ stepMs: 1 });
    const h = await startCompanion({ engine, maxQueue: 1 });
    const release = engine.hold();
    try {
      expect((await h.api.post('/v1/jobs', { prompt: 'running', width: 64, height: 64 })).status).toBe(202);
      expect((await h.api.post('/v1/jobs', { prompt: 'waiting', width: 64, height: 64 })).status).toBe(202);
      const form = new FormData();
      form.append('prompt', 'no room');
      form.append('image', new Blob([await pngOf(64)], { type: 'image/png' }), 'image.png');
      const res = await fetch(`${h.url}/v1/images/edits`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
      expect(res.status).toBe(429);
      expect(((await res.json()) as any).error.code).toBe('queue_full');
      expect(res.headers.get('retry-after')).not.toBeNull();
      expect((await uploadNames(h.dataDir)).filter((n) => n.startsWith('upload-'))).toEqual([]);
    } finally {
      release();
      await h.close();
    }
  });
});
