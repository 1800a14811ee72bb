// The pipeline under the memory plan (real sessions on the demo bundle): releasing stages between
// their turns changes what is loaded, not the image; sizes the plan refuses fail before any stage runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoBundle } from '../../runtime/demo/cache.ts';
import { loadPipeline, PipelineError, type Pipeline } from '../../runtime/pipeline/index.ts';
import { useSwiftShader } from '../helpers/swiftshader.ts';

const noSwiftShader = useSwiftShader();
const root = mkdtempSync(join(tmpdir(), 'dype-memory-'));
let bundle = '';
beforeAll(async () => {
  bundle = await ensureDemoBundle(join(root, 'bundle'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const request = { prompt: 'a lighthouse', width: 256, height: 192, seed: 7, steps: 2 };

describe('pipeline memory plan', () => {
  it('--memory low releases every stage but the transformer between turns, and draws the same image as high', async () => {
    const pipelines: Pipeline[] = [];
    try {
      const high = await loadPipeline(bundle, { device: 'cpu', memory: 'high' });
      pipelines.push(high);
      const low = await loadPipeline(bundle, { device: 'cpu', memory: 'low' });
      pipelines.push(low);
      expect(high.info.memoryPlan).toMatchObject({ release: false, fits: true, provider: 'cpu', precision: 'float32' });
      expect(low.info.memoryPlan).toMatchObject({ release: true, fits: true });
      expect(high.loadedStages.sort()).toEqual(['clip', 't5', 'transformer', 'vae', 'vaeEncoder']);
      expect(low.loadedStages).toEqual(['transformer']);
      const a = await high.generate(request);
      const b = await low.generate(request);
      expect(Buffer.from(b.image).equals(Buffer.from(a.image))).toBe(true);
      // Text encoders and the VAE ran (an image came out) and were released again.
      expect(low.loadedStages).toEqual(['transformer']);
      expect(high.loadedStages).toHaveLength(5);
      expect(b.timings.ortMs).toBeGreaterThan(0);
    } finally {
      await Promise.all(pipelines.map((p) => p.dispose()));
    }
  });

  it.skipIf(noSwiftShader)('caps maxPixels at the largest planned image and refuses larger sizes before any stage runs', async () => {
    const pipeline = await loadPipeline(bundle, { device: 'webgpu', gpuMemoryGB: 0.64 });
    try {
      const side = Math.floor(Math.sqrt(pipeline.info.maxPixels));
      expect(side).toBeLessThan(4096);
      expect(side).toBeGreaterThan(1024);
      expect(pipeline.info.memoryPlan.gpuSource).toBe('--gpu-memory');
      const refused = pipeline.generate({ ...request, width: 4096, height: 4096 });
      await expect(refused).rejects.toBeInstanceOf(PipelineError);
      await expect(refused).rejects.toMatchObject({
        code: 'size_out_of_range',
        message: expect.stringMatching(new RegExp(`^4096×4096 does not fit on webgpu: transformer needs .* but the GPU allows 0\\.10 GB; the largest image that fits is [\\d.]+ MP \\(about ${side}×${side}\\)$`)),
      });
    } finally {
      await pipeline.dispose();
    }
  });

  it('refuses to load a model that fits at no size, with the numbers', async () => {
    // 0.5 GB is all reserve (driver and runtime): nothing is left for the model.
    if (noSwiftShader) return;
    await expect(loadPipeline(bundle, { device: 'webgpu', gpuMemoryGB: 0.5 })).rejects.toMatchObject({
      code: 'insufficient_memory',
      message: expect.stringMatching(/^dype-demo does not fit this machine at any size: 64×64 does not fit on webgpu: transformer needs [\d.]+ MB \(weights [\d.]+ MB \+ activations [\d.]+ MB at 64×64\) but the GPU allows 0\.0 MB/),
    });
  });
});
