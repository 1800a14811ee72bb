/** /v1/health says which provider runs, why the ones before it were skipped, and the WebGPU adapter. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoBundle } from '../../runtime/demo/cache.ts';
import { loadPipeline, type Pipeline } from '../../runtime/pipeline/index.ts';
import { createCompanion, type Companion } from '../../runtime/server/index.ts';
import { useSwiftShader } from '../helpers/swiftshader.ts';
import { Api, TOKEN } from './helpers/companion.ts';

const missing = useSwiftShader();

describe.skipIf(missing)('health under --device auto with only a software WebGPU adapter (SwiftShader)', () => {
  let dir = '';
  let companion: Companion;
  let engine: Pipeline;
  let api: Api;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-health-'));
    engine = await loadPipeline(await ensureDemoBundle(join(dir, 'bundle')), { device: 'auto' });
    companion = await createCompanion({ engine, dataDir: join(dir, 'data'), token: TOKEN, port: 0, version: 'webgpu-test' });
    api = new Api(await companion.listen());
  });
  afterAll(async () => {
    await companion?.close();
    await engine?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs on cpu, lists webgpu as skipped for its software adapter, and describes the adapter', async () => {
    const { status, body } = await api.get('/v1/health');
    expect(status).toBe(200);
    expect(body.provider).toBe('cpu');
    expect(body.skippedProviders).toContainEqual({ provider: 'webgpu', reason: expect.stringMatching(/^only a software adapter: google swiftshader/) });
    expect(body.adapter).toEqual({ vendor: 'google', architecture: 'swiftshader', device: expect.any(String), description: expect.stringMatching(/SwiftShader/), software: true, shaderF16: false, maxBufferBytes: expect.any(Number) });
    // The largest buffer a shader may bind: at least WebGPU's default limit of 128 MiB.
    expect(body.adapter.maxBufferBytes).toBeGreaterThanOrEqual(2 ** 27);
  });
});
