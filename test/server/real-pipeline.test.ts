/** The companion around the real pipeline, in its worker thread as `dype serve` runs it, and the generated demo bundle (no fakes). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoBundle } from '../../runtime/demo/cache.ts';
import { readPngText } from '../../runtime/pipeline/image.ts';
import { PipelineWorker } from '../../runtime/pipeline/index.ts';
import { createCompanion, type Companion } from '../../runtime/server/index.ts';
import { Api, TOKEN } from './helpers/companion.ts';

describe('companion with the real pipeline (demo bundle)', () => {
  let dir = '';
  let companion: Companion;
  let api: Api;
  let engine: PipelineWorker;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-real-'));
    engine = await PipelineWorker.start(await ensureDemoBundle(join(dir, 'bundle')), { device: 'cpu', previewIntervalMs: 0 });
    companion = await createCompanion({ engine, dataDir: join(dir, 'data'), token: TOKEN, port: 0, version: 'real-test', previewIntervalMs: 0 });
    api = new Api(await companion.listen());
  });
  afterAll(async () => {
    await companion?.close();
    await engine?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports the demo model in health', async () => {
    const health = await api.get('/v1/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, demo: true, model: engine.info.model, nativeResolution: engine.info.nativeResolution, defaultDypeScale: 2, defaultDypeExponent: 2, imageToImage: true });
    expect(health.body.methods).toContain('dy-vision-yarn');
  });

  it('generates an image of the asked size with progress and a preview over SSE', async () => {
    const side = Math.max(64, Math.min(engine.info.nativeResolution, 256));
    const width = side;
    const height = Math.max(64, side - 16);
    const { job, events } = await api.run({ prompt: 'a small test', width, height, seed: 5, steps: 2 });
    expect(job.state, JSON.stringify(job.error)).toBe('done');
    const names = events.map((e) => e.event);
    expect(names).toContain('progress');
    expect(names).toContain('preview');
    expect(names.at(-1)).toBe('done');
    const image = await api.bytes(`/v1/jobs/${job.id}/image`);
    const meta = await sharp(image.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', width, height]);
  });

  it('reports tiled decode progress between the last step and done', async () => {
    // A job ahead in the queue keeps ours waiting until its event stream is open.
    const ahead = await api.post('/v1/jobs', { prompt: 'ahead', width: 512, height: 512, steps: 20 });
    expect(ahead.status).toBe(202);
    // 2048 px wide at 64 px per token and 1024 px tiles: at least two VAE tiles
    const { job, events } = await api.run({ prompt: 'wide', width: 2048, height: 1024, seed: 6, steps: 1 });
    expect(job.state, JSON.stringify(job.error)).toBe('done');
    const names = events.map((e) => e.event);
    const decoding = events.filter((e): e is Extract<typeof e, { event: 'decoding' }> => e.event === 'decoding');
    expect(decoding.length).toBeGreaterThanOrEqual(2);
    expect(decoding.map((e) => e.tile)).toEqual(decoding.map((_, i) => i + 1));
    expect(decoding.at(-1)!.tile).toBe(decoding.at(-1)!.tiles);
    expect(names.lastIndexOf('progress')).toBeLessThan(names.indexOf('decoding'));
    expect(names.lastIndexOf('decoding')).toBeLessThan(names.indexOf('done'));
    const progress = decoding.map((e) => e.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(Math.max(...progress)).toBeLessThan(1);
  });

  it('generates a 4096×1024 banner with dy-vision-yarn and records the method and λ values in the job and the PNG', async () => {
    const { job } = await api.run({ prompt: 'banner', width: 4096, height: 1024, seed: 9, steps: 2, method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 'auto' });
    expect(job.state, JSON.stringify(job.error)).toBe('done');
    expect(job.params).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 'auto' });
    // 4096 px on a 1024 px model is 4× native: auto picks λt = 2
    expect(job.result).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 2, dypeExponentAuto: true });
    const image = await api.bytes(`/v1/jobs/${job.id}/image`);
    const meta = await sharp(image.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([4096, 1024]);
    expect(readPngText(image.bytes)).toMatchObject({ method: 'dy-vision-yarn', dype: 'scale 1.5, exponent 2 (auto)' });
  });

  it('extends an uploaded image (kept pixels exact), then refines that job as an init', async () => {
    const px = Buffer.alloc(128 * 128 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 7) % 251;
    const init = await sharp(px, { raw: { width: 128, height: 128, channels: 3 } }).png().toBuffer();
    const uploaded = await fetch(`${api.url}/v1/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'image/png' }, body: init });
    expect(uploaded.status).toBe(201);
    const { id } = (await uploaded.json()) as { id: string };
    const keep = { x: 128, y: 0, width: 128, height: 128, feather: 0 };
    const extended = await api.run({ prompt: 'grow left', width: 256, height: 128, seed: 3, steps: 2, init: id, keep });
    expect(extended.job.state, JSON.stringify(extended.job.error)).toBe('done');
    const out = await sharp((await api.bytes(`/v1/jobs/${extended.job.id}/image`)).bytes).raw().toBuffer();
    for (let y = 0; y < 128; y++) expect(out.subarray((y * 256 + 128) * 3, (y * 256 + 256) * 3).equals(px.subarray(y * 128 * 3, (y + 1) * 128 * 3))).toBe(true);

    const refined = await api.run({ prompt: 'refine', width: 512, height: 256, seed: 3, steps: 2, init: extended.job.id, strength: 0.5 });
    expect(refined.job.state, JSON.stringify(refined.job.error)).toBe('done');
    expect(refined.events.filter((e) => e.event === 'progress')).toHaveLength(1); // ⌈0.5·2⌉ steps
    const meta = await sharp((await api.bytes(`/v1/jobs/${refined.job.id}/image`)).bytes).metadata();
    expect([meta.width, meta.height]).toEqual([512, 256]);
  });

  describe('POST /v1/images/edits as an OpenAI client sees it: the image is the whole picture, opaque mask pixels stay', () => {
    /** A smooth picture (scaling it changes little but its size), and a mask opaque on one rectangle. */
    const picture = (w: number, h: number) => {
      const px = Buffer.alloc(w * h * 3);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set([(x * 255) / w, (y * 255) / h, 96 + ((x + y) % 64)], (y * w + x) * 3);
      return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
    };
    const maskOf = (w: number, h: number, r: { x: number; y: number; width: number; height: number }) => {
      const px = Buffer.alloc(w * h * 4);
      for (let y = r.y; y < r.y + r.height; y++) px.fill(255, (y * w + r.x) * 4, (y * w + r.x + r.width) * 4);
      return sharp(px, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
    };
    const edit = async (parts: Record<string, string | Buffer>) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(parts)) {
        if (typeof value === 'string') form.append(name, value);
        else form.append(name, new Blob([value], { type: 'image/png' }), `${name}.png`);
      }
      const res = await fetch(`${api.url}/v1/images/edits`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
      const body = (await res.json()) as { data: { b64_json: string }[] };
      expect(res.status, JSON.stringify(body)).toBe(200);
      return sharp(Buffer.from(body.data[0].b64_json, 'base64')).raw().toBuffer({ resolveWithObject: true });
    };
    /** Largest and mean level difference inside (or outside) the rectangle. */
    const compare = (a: Buffer, b: Buffer, w: number, r: { x: number; y: number; width: number; height: number }, inside: boolean) => {
      let max = 0;
      let sum = 0;
      let n = 0;
      for (let i = 0; i < a.length; i++) {
        const p = Math.floor(i / 3);
        const [x, y] = [p % w, Math.floor(p / w)];
        if ((x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height) !== inside) continue;
        const d = Math.abs(a[i] - b[i]);
        max = Math.max(max, d);
        sum += d;
        n++;
      }
      return { max, mean: sum / n };
    };

    it('keeps a non-centred rectangle where it is, within 1 level, and draws the rest anew', async () => {
      const rect = { x: 40, y: 96, width: 200, height: 320 };
      const image = await picture(512, 512);
      const out = await edit({ image, mask: await maskOf(512, 512, rect), prompt: 'grow', seed: '7', steps: '2' });
      expect([out.info.width, out.info.height]).toEqual([512, 512]);
      const input = await sharp(image).raw().toBuffer();
      expect(compare(out.data, input, 512, rect, true).max).toBeLessThanOrEqual(1);
      expect(compare(out.data, input, 512, rect, false).mean).toBeGreaterThan(10);
    });

    it('scales picture and mask to an output of another size and keeps the scaled pixels', async () => {
      const rect = { x: 160, y: 0, width: 96, height: 128 }; // at 256×192: the right part of the top two thirds
      const image = await picture(256, 192);
      const out = await edit({ image, mask: await maskOf(256, 192, rect), prompt: 'grow', size: '512x384', seed: '7', steps: '2' });
      expect([out.info.width, out.info.height]).toEqual([512, 384]);
      const scaled = await sharp(image).resize(512, 384, { fit: 'fill' }).raw().toBuffer();
      const outRect = { x: 320, y: 0, width: 192, height: 256 };
      expect(compare(out.data, scaled, 512, outRect, true).max).toBeLessThanOrEqual(1);
      expect(compare(out.data, scaled, 512, outRect, false).mean).toBeGreaterThan(10);
    });

    it('applies strength, and keeps the rectangle at every strength', async () => {
      const rect = { x: 256, y: 64, width: 192, height: 256 };
      const image = await picture(512, 384);
      const input = await sharp(image).raw().toBuffer();
      const outs = [];
      for (const strength of ['0.2', '0.9']) {
        const out = await edit({ image, mask: await maskOf(512, 384, rect), prompt: 'grow', seed: '7', steps: '4', strength });
        expect(compare(out.data, input, 512, rect, true).max).toBeLessThanOrEqual(1);
        expect(compare(out.data, input, 512, rect, false).mean).toBeGreaterThan(10);
        outs.push(out.data);
      }
      expect(compare(outs[0], outs[1], 512, rect, false).mean).toBeGreaterThan(0.5);
    });
  });

  it('cancels a running generation', async () => {
    const submitted = await api.post('/v1/jobs', { prompt: 'cancel me', width: 64, height: 64, steps: 50 });
    const stream = api.events(submitted.body.id);
    await stream.until((e) => e.event === 'progress');
    const cancelled = await api.post(`/v1/jobs/${submitted.body.id}/cancel`);
    expect(cancelled.body.state).toBe('cancelled');
  });
});
