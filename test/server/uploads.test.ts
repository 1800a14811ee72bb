/** POST /v1/uploads, jobs that start from an image (init, strength, keep), and POST /v1/images/edits. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UploadStore } from '../../runtime/server/uploads.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { rawRequest, startCompanion, TOKEN, type Harness } from './helpers/companion.ts';

const png = async (width: number, height: number, alpha?: (x: number, y: number) => number) => {
  const channels = alpha ? 4 : 3;
  const px = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels;
      [px[o], px[o + 1], px[o + 2]] = [x % 256, y % 256, (x + y) % 256];
      if (alpha) px[o + 3] = alpha(x, y);
    }
  }
  return sharp(px, { raw: { width, height, channels } }).png().toBuffer();
};

/** A valid PNG whose header declares width × height, with a few bytes of pixel data: a decompression bomb. */
function bombPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    typed.copy(out, 4);
    out.writeUInt32BE(crc32(typed), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1024))), chunk('IEND', Buffer.alloc(0))]);
}

const upload = (h: Harness, body: Buffer, type = 'image/png') =>
  fetch(`${h.url}/v1/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': type }, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

const edit = (h: Harness, form: FormData) =>
  fetch(`${h.url}/v1/images/edits`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

describe('uploads', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCompanion({ engine: new FakeEngine({ stepMs: 1 }), uploadLimit: 256 * 1024 });
  });
  afterAll(() => h.close());

  it('stores an image atomically and answers its id, size and expiry', async () => {
    const bytes = await png(300, 200);
    const res = await upload(h, bytes);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ width: 300, height: 200, format: 'png', bytes: bytes.length });
    expect(res.body.id).toMatch(/^upload-[a-z0-9]{16,32}$/);
    const hours = (Date.parse(res.body.expiresAt) - Date.now()) / 3.6e6;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);
    const files = await readdir(join(h.dataDir, 'uploads'));
    expect(files.sort()).toEqual([`${res.body.id}.json`, `${res.body.id}.png`]); // no temp file left
  });

  it.each([
    ['a body over the limit', async () => upload(h, Buffer.concat([await png(64, 64), Buffer.alloc(300 * 1024)])), 413, 'payload_too_large'],
    ['a type that is not an image', async () => upload(h, Buffer.from('hello'), 'text/plain'), 415, 'unsupported_image_type'],
    ['bytes that are not what the type says', async () => upload(h, await png(64, 64), 'image/jpeg'), 400, 'invalid_image'],
    ['bytes that are no image', async () => upload(h, Buffer.from('not an image at all'), 'image/png'), 400, 'invalid_image'],
    ['a truncated image', async () => upload(h, (await png(256, 256)).subarray(0, 600)), 400, 'invalid_image'],
    ['a decompression bomb (100 000 × 100 000 declared in 1 kB)', async () => upload(h, bombPng(100_000, 100_000)), 422, 'image_dimensions_too_large'],
    ['a side over 16384 px', async () => upload(h, bombPng(20_000, 10)), 422, 'image_dimensions_too_large'],
    ['an empty body', async () => upload(h, Buffer.alloc(0)), 400, 'invalid_image'],
  ])('refuses %s with a clear 4xx', async (_what, send, status, code) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message.length).toBeGreaterThan(10);
  });

  it('needs the token', async () => {
    const res = await fetch(`${h.url}/v1/uploads`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: await png(64, 64) });
    expect(res.status).toBe(401);
  });

  it('job ids may not look like upload ids', async () => {
    const res = await h.api.post('/v1/jobs', { id: 'upload-abcdefghijklmnop', prompt: 'x', width: 64, height: 64 });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/upload-/);
  });
});

describe('jobs that start from an image', () => {
  let h: Harness;
  let engine: FakeEngine;
  beforeAll(async () => {
    engine = new FakeEngine({ stepMs: 1 });
    h = await startCompanion({ engine });
  });
  afterAll(() => h.close());

  it('an upload as init: the engine gets its bytes, strength defaults to 0.55, params echo init and keep', async () => {
    const bytes = await png(128, 96);
    const id = (await upload(h, bytes)).body.id;
    const keep = { x: 64, y: 0, width: 128, height: 96, feather: 8 };
    const { job } = await h.api.run({ prompt: 'extend me', width: 192, height: 96, init: id, keep });
    expect(job.state).toBe('done');
    expect(job.params).toMatchObject({ init: id, strength: 0.55, keep });
    const request = engine.calls.at(-1)!.request;
    expect(request.init?.id).toBe(id);
    expect(Buffer.from(request.init!.bytes).equals(bytes)).toBe(true);
    expect(request.keep).toEqual(keep);
  });

  it('a finished job as init: the engine gets that job’s image', async () => {
    const first = await h.api.run({ prompt: 'first', width: 64, height: 64 });
    const image = await h.api.bytes(`/v1/jobs/${first.job.id}/image`);
    const { job } = await h.api.run({ prompt: 'refine', width: 128, height: 128, init: first.job.id, strength: 0.4 });
    expect(job.state).toBe('done');
    const request = engine.calls.at(-1)!.request;
    expect(request.strength).toBe(0.4);
    expect(Buffer.from(request.init!.bytes).equals(image.bytes)).toBe(true);
  });

  it.each([
    [{ init: 'upload-zzzzzzzzzzzzzzzzzzzz' }, 404, 'init_not_found'],
    [{ init: 'no-such-job' }, 404, 'init_not_found'],
    [{ strength: 0.5 }, 400, 'invalid_field'],
    [{ keep: { x: 0, y: 0, width: 10, height: 10, feather: 0 } }, 400, 'invalid_field'],
    [{ init: 'upload-zzzzzzzzzzzzzzzzzzzz', strength: 2 }, 400, 'invalid_field'],
    [{ init: 'upload-zzzzzzzzzzzzzzzzzzzz', keep: { x: 32, y: 0, width: 64, height: 64, feather: 0 } }, 400, 'invalid_field'],
    [{ init: 'upload-zzzzzzzzzzzzzzzzzzzz', keep: { x: 0, y: 0, width: 64, height: 64 } }, 400, 'missing_field'],
  ])('refuses %j', async (extra, status, code) => {
    const res = await h.api.post('/v1/jobs', { prompt: 'x', width: 64, height: 64, ...extra });
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
  });

  it('an unfinished job as init is 409 init_not_ready', async () => {
    const release = engine.hold();
    const running = await h.api.post('/v1/jobs', { prompt: 'slow', width: 64, height: 64 });
    const res = await h.api.post('/v1/jobs', { prompt: 'x', width: 64, height: 64, init: running.body.id });
    release();
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'init_not_ready', field: 'init' });
  });
});

describe('POST /v1/images/edits', () => {
  let h: Harness;
  let engine: FakeEngine;
  beforeAll(async () => {
    engine = new FakeEngine({ stepMs: 1 });
    h = await startCompanion({ engine, uploadLimit: 256 * 1024 });
  });
  afterAll(() => h.close());

  const form = async (parts: Record<string, string | Buffer>) => {
    const f = new FormData();
    for (const [name, value] of Object.entries(parts)) {
      if (typeof value === 'string') f.append(name, value);
      else f.append(name, new Blob([value], { type: 'image/png' }), `${name}.png`);
    }
    return f;
  };

  it('edits an image: b64_json of the asked size, the image sent to the engine as init', async () => {
    const image = await png(160, 96);
    const res = await edit(h, await form({ image, prompt: 'more detail', size: '320x192', n: '2', response_format: 'b64_json', strength: '0.3' }));
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(2);
    const meta = await sharp(Buffer.from(res.body.data[0].b64_json, 'base64')).metadata();
    expect([meta.width, meta.height]).toEqual([320, 192]);
    const request = engine.calls.at(-1)!.request;
    expect(Buffer.from(request.init!.bytes).equals(image)).toBe(true);
    expect(request.strength).toBe(0.3);
    expect(request.keep).toBeUndefined();
  });

  it('a mask with a transparent border becomes a keep rectangle scaled to the output, and the init is the picture under it', async () => {
    const image = await png(200, 100);
    // opaque columns 50–149: kept; the rest transparent: generated
    const mask = await png(200, 100, (x) => (x >= 50 && x < 150 ? 255 : 0));
    const res = await edit(h, await form({ image, mask, prompt: 'extend', size: '400x200' }));
    expect(res.status).toBe(200);
    const { keep, init } = engine.calls.at(-1)!.request;
    // every opaque pixel is kept as it is: no feather eats into it
    expect(keep).toEqual({ x: 100, y: 0, width: 200, height: 200, feather: 0 });
    // the job places its init into keep, so the init is the whole picture at 400×200 cut to the rectangle
    const scaled = await sharp(image).resize(400, 200, { fit: 'fill' }).raw().toBuffer();
    const cut = await sharp(init!.bytes).raw().toBuffer({ resolveWithObject: true });
    expect([cut.info.width, cut.info.height]).toEqual([200, 200]);
    for (let y = 0; y < 200; y++) expect(cut.data.subarray(y * 600, (y + 1) * 600).equals(scaled.subarray((y * 400 + 100) * 3, (y * 400 + 300) * 3))).toBe(true);
  });

  it('a mask must be the image’s size; an all-opaque mask is plain image-to-image, an all-transparent one generates everything', async () => {
    const image = await png(200, 100);
    const smaller = await edit(h, await form({ image, mask: await png(100, 50, (x) => (x >= 25 && x < 75 ? 255 : 0)), prompt: 'extend', size: '400x200' }));
    expect(smaller.status).toBe(400);
    expect(smaller.body.error).toMatchObject({ code: 'invalid_field', field: 'mask' });
    expect(smaller.body.error.message).toContain('100×50');
    expect((await edit(h, await form({ image, mask: await png(200, 100, () => 255), prompt: 'all kept', size: '400x200' }))).status).toBe(200);
    expect([engine.calls.at(-1)!.request.keep, engine.calls.at(-1)!.request.strength]).toEqual([undefined, 0.55]);
    expect((await edit(h, await form({ image, mask: await png(200, 100, () => 0), prompt: 'all new', size: '400x200' }))).status).toBe(200);
    expect([engine.calls.at(-1)!.request.keep, engine.calls.at(-1)!.request.strength]).toEqual([undefined, 1]);
  });

  it('defaults to the image’s own size', async () => {
    const res = await edit(h, await form({ image: await png(96, 80), prompt: 'same size' }));
    expect(res.status).toBe(200);
    const meta = await sharp(Buffer.from(res.body.data[0].b64_json, 'base64')).metadata();
    expect([meta.width, meta.height]).toEqual([96, 80]);
  });

  const raw = (body: string | Buffer, type = 'multipart/form-data; boundary=XYZ') =>
    rawRequest(h.port, { method: 'POST', path: '/v1/images/edits', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), Connection: 'keep-alive' }, body });

  it.each([
    ['a body cut before its closing boundary', '--XYZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello\r\n--XYZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nabc', 400, 'invalid_multipart'],
    ['garbage', 'this is not multipart at all', 400, 'invalid_multipart'],
    ['no boundary', '--XYZ--\r\n', 400, 'invalid_multipart', 'multipart/form-data'],
    ['JSON instead of multipart', '{"prompt":"x"}', 415, 'unsupported_media_type', 'application/json'],
    ['a part given twice', '--XYZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na\r\n--XYZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nb\r\n--XYZ--\r\n', 400, 'invalid_multipart'],
    ['an unknown file part', '--XYZ\r\nContent-Disposition: form-data; name="other"; filename="x.png"\r\nContent-Type: image/png\r\n\r\nabc\r\n--XYZ--\r\n', 400, 'invalid_multipart'],
    ['a field longer than 16 KiB', `--XYZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n${'a'.repeat(17 * 1024)}\r\n--XYZ--\r\n`, 400, 'invalid_field'],
  ])('refuses %s with a clear 4xx, closing the connection', async (_what, body, status, code, type?: string) => {
    const res = await raw(body, type);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    // node would otherwise keep reading the rest of a body nobody wants
    expect(res.headers.connection).toBe('close');
  });

  it.each([
    [{ prompt: 'x' }, 400, 'missing_field', 'image'],
    [{ prompt: 'x', size: '12x12' }, 400, 'invalid_field', 'size'],
    [{ prompt: 'x', n: '9' }, 400, 'invalid_field', 'n'],
    [{ prompt: 'x', strength: '' }, 400, 'invalid_field', 'strength'],
    [{ prompt: 'x', strength: '.' }, 400, 'invalid_field', 'strength'],
    [{ prompt: 'x', response_format: 'url' }, 400, 'unsupported_response_format', 'response_format'],
    [{ prompt: 'x', quality: 'hd' }, 400, 'unknown_field', 'quality'],
  ])('refuses fields %j', async (fields, status, code, field) => {
    const parts: Record<string, string | Buffer> = { ...fields };
    if (field !== 'image') parts.image = await png(64, 64);
    const res = await edit(h, await form(parts));
    expect(res.status).toBe(status);
    expect(res.body.error).toMatchObject({ code, field });
  });

  it('saves nothing for a request it refuses: a wrong response_format, a model that cannot start from an image', async () => {
    const saved = async (harness: Harness) => (await readdir(join(harness.dataDir, 'uploads')).catch(() => [])).filter((name) => name.startsWith('upload-'));
    const before = await saved(h);
    const url = await edit(h, await form({ image: await png(64, 64), prompt: 'x', response_format: 'url' }));
    expect(url.body.error).toMatchObject({ code: 'unsupported_response_format', field: 'response_format' });
    expect(await saved(h)).toEqual(before);
    const textOnly = await startCompanion({ engine: new FakeEngine({ info: { imageToImage: false } }) });
    try {
      const res = await edit(textOnly, await form({ image: await png(64, 64), prompt: 'x' }));
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'image' });
      expect(res.body.error.message).toMatch(/no VAE encoder/);
      expect(await saved(textOnly)).toEqual([]);
    } finally {
      await textOnly.close();
    }
  });

  it('refuses an oversized image file with 413, and a mask that is not one rectangle', async () => {
    const big = Buffer.concat([await png(64, 64), Buffer.alloc(300 * 1024)]);
    expect((await edit(h, await form({ image: big, prompt: 'x' }))).body.error.code).toBe('payload_too_large');
    const holes = await png(64, 64, (x, y) => ((x >> 3) + (y >> 3)) % 2 ? 255 : 0);
    const res = await edit(h, await form({ image: await png(64, 64), mask: holes, prompt: 'x' }));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_field', field: 'mask' });
  });
});

describe('upload retention', () => {
  it('deletes uploads 24 h after their last use, and the least recently used beyond the total limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dype-uploads-'));
    let now = Date.parse('2026-01-01T00:00:00Z');
    const store = new UploadStore(dir, { now: () => now, maxTotalBytes: 2500 });
    await store.open();
    const image = { width: 1, height: 1, format: 'png' as const };
    const a = await store.save(new Uint8Array(1000), image);
    now += 60_000;
    const b = await store.save(new Uint8Array(1000), image);
    now += 60_000;
    expect(await store.use(a.id)).not.toBeNull(); // a is now used more recently than b
    now += 60_000;
    const c = await store.save(new Uint8Array(1000), image); // 3000 > 2500: b, the least recently used, goes
    expect(await store.use(b.id)).toBeNull();
    expect(await store.use(a.id)).not.toBeNull();
    now += 24 * 3.6e6 - 1;
    expect(await store.read(c.id)).toHaveLength(1000); // a use: c lives on
    now += 2;
    expect(await store.use(a.id)).toBeNull(); // a's last use was 24 h ago
    expect(await store.use(c.id)).not.toBeNull();
    expect((await readdir(join(dir, 'uploads'))).sort()).toEqual([`${c.id}.json`, `${c.id}.png`]);
    await rm(dir, { recursive: true, force: true });
  });
});
