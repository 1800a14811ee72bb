// The memory plan through the companion: the real pipeline on a WebGPU device (SwiftShader standing
// in for a GPU of 0.64 GB, given by --gpu-memory), health reporting the plan, and a job larger than
// the plan allows refused at the door with image_too_large.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthSchema } from '../../runtime/contract/index.ts';
import { ensureDemoBundle } from '../../runtime/demo/cache.ts';
import { loadPipeline, type Pipeline } from '../../runtime/pipeline/index.ts';
import { createCompanion, type Companion } from '../../runtime/server/index.ts';
import { useSwiftShader } from '../helpers/swiftshader.ts';
import { Api, TOKEN } from './helpers/companion.ts';

const noSwiftShader = useSwiftShader();

describe.skipIf(noSwiftShader)('companion memory plan (real pipeline, WebGPU on SwiftShader)', () => {
  let dir = '';
  let companion: Companion;
  let engine: Pipeline;
  let api: Api;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-plan-'));
    engine = await loadPipeline(await ensureDemoBundle(join(dir, 'bundle')), { device: 'webgpu', gpuMemoryGB: 0.64 });
    companion = await createCompanion({ engine, dataDir: join(dir, 'data'), token: TOKEN, port: 0, version: 'plan-test', previewIntervalMs: 0 });
    api = new Api(await companion.listen());
  });
  afterAll(async () => {
    await companion?.close();
    await engine?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('GET /v1/health carries the plan: each stage, where it runs, its memory, whether it fits', async () => {
    const health = await api.get('/v1/health');
    expect(health.status).toBe(200);
    const body = HealthSchema.parse(health.body);
    expect(body.memory).toMatchObject({ provider: 'webgpu', precision: 'float32', width: 1024, height: 1024, fits: true, gpuSource: '--gpu-memory' });
    expect(body.memory!.stages.map((s) => [s.stage, s.runsOn, s.fits])).toEqual([
      ['text-encoders', 'gpu', true],
      ['transformer', 'gpu', true],
      ['vae-decode', 'gpu', true],
      ['vae-encode', 'gpu', true],
    ]);
    expect(body.memory!.gpu!.budgetBytes).toBeCloseTo(0.64e9 - 2 ** 29, -3);
    // The largest planned image caps maxPixels below the bundle's own limit.
    expect(body.maxPixels).toBe(engine.info.maxPixels);
    expect(body.maxPixels).toBeLessThan(4096 * 4096);
  });

  it('refuses a job the plan cannot fit, with the limit, before it is queued', async () => {
    const reply = await api.post('/v1/jobs', { prompt: 'too big', width: 4096, height: 4096, steps: 1 });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toMatchObject({ code: 'image_too_large', field: 'width' });
    expect(reply.body.error.message).toContain(`this machine allows at most ${engine.info.maxPixels}`);
  });
});
