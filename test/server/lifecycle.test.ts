/** One job end to end over real HTTP: submit, SSE stream, image, listing, late subscribers, failures. */
import { totalmem } from 'node:os';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BYTES_PER_PIXEL } from '../../runtime/server/schemas.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { startCompanion, TOKEN, waitFor, type Harness } from './helpers/companion.ts';

describe('job lifecycle', () => {
  let h: Harness;
  beforeAll(async () => {
    const engine = new FakeEngine({
      stepMs: 15,
      script: (req) => (req.prompt.startsWith('explode') ? { failAtStep: 2, failMessage: 'CUDA out of memory (fake)' } : {}),
    });
    h = await startCompanion({ engine });
  });
  afterAll(() => h.close());

  it('answers health without a token', async () => {
    const res = await fetch(`${h.url}/v1/health`);
    const body = (await res.json()) as any;
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ ok: true, version: '0.0.0-test', model: 'fake-dit', demo: true, nativeResolution: 256, maxSide: 1024, provider: 'cpu', queueLength: 0 });
    expect(body.methods).toContain('dy-yarn');
  });

  it('runs a job: 202, started, progress below 1, previews, done, then the image', async () => {
    // the engine waits until the stream is open, so every event is seen live
    const release = h.engine.hold();
    const submitted = await h.api.post('/v1/jobs', { prompt: '  a lighthouse at dusk  ', width: 200, height: 120, seed: 7, steps: 6 });
    const stream = h.api.events(submitted.body.id);
    await stream.until((e) => e.event === 'started');
    release();
    expect(submitted.status).toBe(202);
    expect(submitted.headers.get('location')).toBe(`/v1/jobs/${submitted.body.id}`);
    expect(submitted.body).toMatchObject({
      state: 'running',
      params: { prompt: 'a lighthouse at dusk', width: 200, height: 120, seed: 7, steps: 6, guidance: 3.5, method: 'dy-yarn', format: 'png' },
      source: 'jobs',
      result: null,
    });

    const events = await stream.all();
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('started');
    expect(names.at(-1)).toBe('done');
    const progress = events.filter((e) => e.event === 'progress');
    expect(progress.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const e of events) {
      expect(e.jobId).toBe(submitted.body.id);
      if (e.event !== 'done') expect(e.progress).toBeLessThan(1);
    }
    expect(progress.at(-1)).toMatchObject({ step: 6, steps: 6, etaMs: expect.any(Number), sigma: expect.any(Number) });
    // progress is monotonic
    const values = events.map((e) => e.progress);
    expect([...values].sort((a, b) => a - b)).toEqual(values);

    const previews = events.filter((e) => e.event === 'preview');
    expect(previews.length).toBeGreaterThan(0);
    expect(names.indexOf('preview')).toBeLessThan(names.indexOf('done'));
    const preview = previews[0] as Extract<(typeof events)[number], { event: 'preview' }>;
    const meta = await sharp(Buffer.from(preview.png, 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', preview.width, preview.height]);

    const done = events.at(-1)!;
    expect(done).toMatchObject({ event: 'done', progress: 1, state: 'done', result: { width: 200, height: 120, mimeType: 'image/png', url: `/v1/jobs/${submitted.body.id}/image` } });

    const job = await h.api.get(`/v1/jobs/${submitted.body.id}`);
    expect(job.body).toMatchObject({ state: 'done', progress: 1, position: null, step: 6 });

    const image = await h.api.bytes(`/v1/jobs/${submitted.body.id}/image`);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(Number(image.headers.get('content-length'))).toBe(image.bytes.length);
    expect(image.bytes.length).toBe(job.body.result.bytes);
    const decoded = await sharp(image.bytes).metadata();
    expect([decoded.width, decoded.height]).toEqual([200, 120]);
  });

  it('passes λ values to the engine, fills the model defaults, and names a bad one', async () => {
    const { job } = await h.api.run({ prompt: 'λ set', width: 64, height: 64, steps: 1, method: 'dy-vision-yarn', dypeScale: 0.5, dypeExponent: 'auto', yarnScaling: 'isotropic' });
    expect(job.params).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 0.5, dypeExponent: 'auto', yarnScaling: 'isotropic' });
    expect(h.engine.calls.find((c) => c.request.prompt === 'λ set')!.request).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 0.5, dypeExponent: 'auto' });
    const defaults = await h.api.post('/v1/jobs', { prompt: 'λ', width: 64, height: 64, steps: 1 });
    expect(defaults.body.params).toMatchObject({ dypeScale: 2, dypeExponent: 2, yarnScaling: 'anisotropic' });
    const bad = await h.api.post('/v1/jobs', { prompt: 'λ', dypeExponent: 'fast' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_field', field: 'dypeExponent', message: 'dypeExponent must be "auto" or a number from 0 to 8 (got "fast").' });
  });

  it('replays the terminal event to a late subscriber and ends the stream', async () => {
    const { job } = await h.api.run({ prompt: 'late', width: 64, height: 64 });
    const stream = h.api.events(job.id);
    const events = await stream.all();
    expect(events.map((e) => e.event)).toEqual(['done']);
    expect(stream.ids).toEqual(['end']);
    // an EventSource reconnecting after the end gets 204 and stops
    const again = await fetch(`${h.url}/v1/jobs/${job.id}/events`, { headers: { Authorization: `Bearer ${TOKEN}`, 'Last-Event-ID': 'end' } });
    expect(again.status).toBe(204);
  });

  it('serves jpg with image/jpeg and accepts ?token= on the image and events routes', async () => {
    const { job } = await h.api.run({ prompt: 'jpeg', width: 96, height: 80, format: 'jpg' });
    expect(job.result.mimeType).toBe('image/jpeg');
    const res = await fetch(`${h.url}/v1/jobs/${job.id}/image?token=${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 96, 80]);
    const events = await h.api.events(job.id, { query: `?token=${TOKEN}` }).all();
    expect(events.at(-1)?.event).toBe('done');
  });

  it('turns an engine error into a failed job with its message; the server keeps serving', async () => {
    const { job, events } = await h.api.run({ prompt: 'explode please', width: 64, height: 64 });
    expect(job).toMatchObject({ state: 'failed', error: { code: 'engine_error', message: 'CUDA out of memory (fake)' }, result: null });
    expect(events.at(-1)).toMatchObject({ event: 'failed', error: { code: 'engine_error', message: 'CUDA out of memory (fake)' } });
    const image = await h.api.get(`/v1/jobs/${job.id}/image`);
    expect(image.status).toBe(409);
    expect(image.body.error.code).toBe('image_not_ready');
    expect((await h.api.run({ prompt: 'after the failure', width: 64, height: 64 })).job.state).toBe('done');
  });

  it('keeps client ids: same id and request returns the job, a different request is 409', async () => {
    const body = { id: 'client-id_1', prompt: 'idempotent', width: 64, height: 64, seed: 1 };
    const first = await h.api.post('/v1/jobs', body);
    expect(first.status).toBe(202);
    expect(first.body.id).toBe('client-id_1');
    const again = await h.api.post('/v1/jobs', body);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe('client-id_1');
    expect(again.body.createdAt).toBe(first.body.createdAt);
    const other = await h.api.post('/v1/jobs', { ...body, seed: 2 });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'job_conflict', field: 'id' });
    await h.api.events('client-id_1').all();
    expect((await h.api.post('/v1/jobs', body)).body.state).toBe('done');
  });

  it('lists recent jobs newest first, with a limit', async () => {
    const a = await h.api.run({ prompt: 'list a', width: 64, height: 64 });
    const b = await h.api.run({ prompt: 'list b', width: 64, height: 64 });
    const list = await h.api.get('/v1/jobs?limit=2');
    expect(list.status).toBe(200);
    expect(list.body.jobs.map((j: { id: string }) => j.id)).toEqual([b.job.id, a.job.id]);
    const all = await h.api.get('/v1/jobs');
    expect(all.body.jobs.length).toBeGreaterThan(5);
  });

  it('notices a client that hangs up on the event stream and drops its listener', async () => {
    const release = h.engine.hold();
    try {
      const submitted = await h.api.post('/v1/jobs', { prompt: 'hang up', width: 64, height: 64 });
      const stream = h.api.events(submitted.body.id);
      await stream.until((e) => e.event === 'started' || e.event === 'queued');
      expect(h.companion.stats().streams).toBe(1);
      expect(h.companion.stats().listeners).toBe(1);
      stream.abort();
      await waitFor(() => h.companion.stats().streams === 0 && h.companion.stats().listeners === 0);
    } finally {
      release();
    }
  });
});

describe('previews and limits', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('draws only the previews it sends: the throttle decides which are drawn', async () => {
    h = await startCompanion({ engine: new FakeEngine({ stepMs: 5 }), previewIntervalMs: 60_000 });
    const { events } = await h.api.run({ prompt: 'throttled', width: 64, height: 64, steps: 8 });
    expect(events.filter((e) => e.event === 'preview').length).toBe(1);
    expect(h.engine.calls[0].previews).toBe(1);
  });

  it('derives maxPixels from total RAM minus what the process holds with the engine loaded', async () => {
    h = await startCompanion({ engine: new FakeEngine({ info: { maxPixels: Number.MAX_SAFE_INTEGER } }) });
    const { maxPixels } = (await h.api.get('/v1/health')).body;
    expect(maxPixels).toBeLessThan(Math.floor(totalmem() / BYTES_PER_PIXEL));
    expect(maxPixels).toBeGreaterThanOrEqual(Math.floor((totalmem() - 2 * process.memoryUsage.rss()) / BYTES_PER_PIXEL));
  });
});
