/** POST /v1/images/generations, the OpenAI-compatible endpoint. */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeEngine } from './helpers/fake-engine.ts';
import { startCompanion, waitFor, type Harness } from './helpers/companion.ts';

describe('OpenAI-compatible images endpoint', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCompanion({ engine: new FakeEngine({ stepMs: 5, script: (r) => (r.prompt === 'broken' ? { failAtStep: 1, failMessage: 'boom' } : {}) }) });
  });
  afterAll(() => h.close());

  it('returns decodable images of the asked size', async () => {
    const res = await h.api.post('/v1/images/generations', { model: 'dall-e-3', prompt: 'a red fox', size: '320x192', n: 2, response_format: 'b64_json', seed: 41, steps: 3 });
    expect(res.status).toBe(200);
    expect(res.body.created).toBeGreaterThan(1_600_000_000);
    expect(res.body.data).toHaveLength(2);
    for (const item of res.body.data) {
      const meta = await sharp(Buffer.from(item.b64_json, 'base64')).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 320, 192]);
    }
    // consecutive seeds, so the n images differ
    expect(res.body.data[0].b64_json).not.toBe(res.body.data[1].b64_json);
    const jobs = (await h.api.get('/v1/jobs?limit=2')).body.jobs;
    expect(jobs.map((j: any) => [j.source, j.params.seed].join(':')).sort()).toEqual(['openai:41', 'openai:42']);
  });

  it('defaults to one image at the native size', async () => {
    const res = await h.api.post('/v1/images/generations', { prompt: 'default size' });
    expect(res.status).toBe(200);
    const meta = await sharp(Buffer.from(res.body.data[0].b64_json, 'base64')).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
  });

  it('refuses response_format url with a clear 400', async () => {
    const res = await h.api.post('/v1/images/generations', { prompt: 'x', response_format: 'url' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'unsupported_response_format', field: 'response_format' });
    expect(res.body.error.message).toMatch(/b64_json/);
  });

  it.each([
    [{ prompt: 'x', size: '1024' }, 'size', 'invalid_field'],
    [{ prompt: 'x', size: '10x10' }, 'size', 'invalid_field'],
    [{ prompt: 'x', size: '1024x1024' }, 'size', 'image_too_large'],
    [{ prompt: 'x', n: 5 }, 'n', 'invalid_field'],
    [{ prompt: 'x', n: 0 }, 'n', 'invalid_field'],
    [{ prompt: 'x', quality: 'hd' }, 'quality', 'unknown_field'],
    [{ size: '64x64' }, 'prompt', 'missing_field'],
  ])('rejects %j', async (body, field, code) => {
    const res = await h.api.post('/v1/images/generations', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code, field });
  });

  it('reports an engine failure as generation_failed', async () => {
    const res = await h.api.post('/v1/images/generations', { prompt: 'broken', size: '64x64' });
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('generation_failed');
    expect(res.body.error.message).toMatch(/boom/);
  });

  it('cancels its jobs when the client hangs up', async () => {
    const release = h.engine.hold();
    try {
      const controller = new AbortController();
      const pending = fetch(`${h.url}/v1/images/generations`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${h.api.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: 'abandoned', size: '64x64' }),
        signal: controller.signal,
      }).catch(() => null);
      await waitFor(async () => (await h.api.get('/v1/jobs?limit=1')).body.jobs[0]?.params.prompt === 'abandoned');
      controller.abort();
      await pending;
      await waitFor(async () => (await h.api.get('/v1/jobs?limit=1')).body.jobs[0]?.state === 'cancelled');
    } finally {
      release();
    }
  });
});
