/**
 * The pipeline on the WebGPU provider, against the CPU provider, on every CI run: SwiftShader (a
 * software Vulkan driver) stands in for a GPU. Sizes are small because SwiftShader compiles every
 * shader on first use (~20 s for the demo model here); a wider-than-native strip still makes
 * static and dynamic RoPE differ (18 tokens across against 16 native).
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fluxRopeFrequencies } from '../../runtime/dype/index.ts';
import { loadPipeline, METHOD_ROPE, type GenerateRequest, type Pipeline } from '../../runtime/pipeline/index.ts';
import type { TensorData } from '../../runtime/pipeline/ort.ts';
import { importExport } from '../../runtime/import/index.ts';
import { tempDemoBundle } from '../helpers/demo.ts';
import { writeExportFixture } from '../import/fixtures/export.ts';
import { tempRoot } from '../import/fixtures/run.ts';
import { useSwiftShader } from '../helpers/swiftshader.ts';
import { imageLevels } from '../helpers/compare.ts';

const missing = useSwiftShader();
if (missing) console.warn(`skipping the WebGPU tests: ${missing}`);

/** Tolerance against CPU, in 8-bit levels: measured max 1, mean < 0.01 (float32 shaders vs MLAS). */
const MAX_LEVELS = 2;
const MEAN_LEVELS = 0.05;

// 3 steps with a preview after the first: on WebGPU step 1 reads back (preview), step 2 stays on
// the device, step 3 reads back (last).
const req: GenerateRequest = { prompt: 'a lighthouse at dawn', width: 1152, height: 64, seed: 3, steps: 3 };

interface Run {
  rgb: Buffer;
  /** The preview after step 1 (its x0 comes back from the device on WebGPU). */
  preview: Buffer;
  feeds: { sigma: number; omega: Float32Array; mscale: Float32Array; timestep: number }[];
}

async function run(pipeline: Pipeline, method: 'yarn' | 'dy-yarn'): Promise<Run> {
  const feeds: Run['feeds'] = [];
  const previews: Promise<Uint8Array>[] = [];
  const data = (t: TensorData) => t.data as Float32Array;
  const result = await pipeline.generate({ ...req, method }, {
    onEvent: (e) => {
      if (e.kind !== 'step') return;
      const f = e.feeds;
      feeds.push({ sigma: e.sigma, omega: data(f.rope_omega).slice(), mscale: data(f.rope_mscale).slice(), timestep: data(f.timestep)[0] });
      if (e.step === 1 && e.preview) previews.push(e.preview().then((p) => p.png));
    },
  });
  expect(previews.length).toBe(1);
  return { rgb: await sharp(result.image).raw().toBuffer(), preview: await sharp(await previews[0]).raw().toBuffer(), feeds };
}


describe.skipIf(missing)('WebGPU provider through SwiftShader', () => {
  describe('float32 demo bundle', () => {
    let bundle: { dir: string; cleanup: () => void };
    let cpu: Pipeline;
    let gpu: Pipeline;
    beforeAll(async () => {
      bundle = await tempDemoBundle();
      cpu = await loadPipeline(bundle.dir, { device: 'cpu' });
      gpu = await loadPipeline(bundle.dir, { device: 'webgpu', keepOnDevice: true });
    });
    afterAll(async () => {
      await Promise.all([cpu?.dispose(), gpu?.dispose()]);
      bundle?.cleanup();
    });

    it('runs on webgpu with the latents kept on the device when asked (by default only on hardware), and reports the adapter', async () => {
      expect(gpu.info.provider).toBe('webgpu');
      expect(gpu.info.latentsOnDevice).toBe(true);
      expect(cpu.info.latentsOnDevice).toBe(false);
      const byDefault = await loadPipeline(bundle.dir, { device: 'webgpu' });
      expect(byDefault.info.latentsOnDevice).toBe(false);
      await byDefault.dispose();
      expect(gpu.info.providerSelection?.adapter).toMatchObject({ vendor: 'google', architecture: 'swiftshader', software: true });
    });

    it.each(['yarn', 'dy-yarn'] as const)('%s: the image equals CPU within tolerance, fed the same per-step DyPE positions', async (method) => {
      const [onCpu, onGpu] = [await run(cpu, method), await run(gpu, method)];
      for (const [a, b] of [[onCpu.rgb, onGpu.rgb], [onCpu.preview, onGpu.preview]]) {
        const diff = imageLevels(a, b);
        expect(diff.max, JSON.stringify(diff)).toBeLessThanOrEqual(MAX_LEVELS);
        expect(diff.mean, JSON.stringify(diff)).toBeLessThan(MEAN_LEVELS);
      }

      expect(onGpu.feeds.map((f) => f.sigma)).toEqual(onCpu.feeds.map((f) => f.sigma));
      const rope = { ...METHOD_ROPE[method], baseLength: 16, theta: 10000, axesDim: [4, 14, 14] };
      for (const fed of onGpu.feeds) {
        const expected = fluxRopeFrequencies({ height: 1, width: 18, textTokens: 64 }, rope.dynamic ? fed.sigma : 1, rope);
        expect(fed.timestep).toBe(Math.fround(fed.sigma));
        expect(Array.from(fed.omega)).toEqual(Array.from(expected.omega, Math.fround));
        expect(Array.from(fed.mscale)).toEqual(Array.from(expected.mscale, Math.fround));
      }
      // dynamic RoPE rescales per step (σ = 1 → full YaRN, later σ → closer to native); static does not
      const [first, second] = onGpu.feeds;
      if (method === 'dy-yarn') expect(Array.from(second.omega)).not.toEqual(Array.from(first.omega));
      else expect(Array.from(second.omega)).toEqual(Array.from(first.omega));
    });

    // Extend blends the kept region on host latents each step: with the transformer's output kept on
    // the device, the step graph brings the latents back every step (and the kept pixels stay exact).
    it('extends an image with the latents on the device, like CPU, kept pixels exact', async () => {
      const px = Buffer.alloc(64 * 64 * 3);
      for (let i = 0; i < px.length; i++) px[i] = 30 + ((i * 11) % 190);
      const init = { bytes: await sharp(px, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer(), id: 'strip' };
      const extend: GenerateRequest = { prompt: 'grow right', width: 256, height: 64, seed: 5, steps: 2, init, keep: { x: 0, y: 0, width: 64, height: 64, feather: 0 } };
      const [onCpu, onGpu] = [await cpu.generate(extend), await gpu.generate(extend)];
      const [a, b] = [await sharp(onCpu.image).raw().toBuffer(), await sharp(onGpu.image).raw().toBuffer()];
      const diff = imageLevels(a, b);
      expect(diff.max, JSON.stringify(diff)).toBeLessThanOrEqual(MAX_LEVELS);
      for (let y = 0; y < 64; y++) expect(b.subarray(y * 256 * 3, (y * 256 + 64) * 3).equals(px.subarray(y * 64 * 3, (y + 1) * 64 * 3))).toBe(true);
    });
  });

  // A FLUX.1-dev-style export through `dype import` (RoPE rewired to rope_omega, 512 text tokens,
  // its own VAE scale). Not --fuse-attention: ORT 1.30's WebGPU MultiHeadAttention is off by up to
  // 0.5 for 64+ tokens on SwiftShader (README, GPU path); the GPU check measures it on hardware.
  it('an imported FLUX-dev export equals CPU at 2× native with DyPE', async () => {
    const { root, cleanup } = tempRoot('dype-webgpu-import-');
    const pipelines: Pipeline[] = [];
    try {
      const output = join(root, 'bundle');
      await importExport(await writeExportFixture(join(root, 'export')), { output });
      for (const device of ['cpu', 'webgpu'] as const) pipelines.push(await loadPipeline(output, { device, keepOnDevice: true }));
      const images = await Promise.all(pipelines.map(async (p) => sharp((await p.generate({ ...req, width: 2048, height: 64, steps: 2, method: 'dy-yarn' })).image).raw().toBuffer()));
      expect(pipelines[1].info).toMatchObject({ provider: 'webgpu', latentsOnDevice: true });
      const diff = imageLevels(images[0], images[1]);
      expect(diff.max, JSON.stringify(diff)).toBeLessThanOrEqual(MAX_LEVELS);
      expect(diff.mean, JSON.stringify(diff)).toBeLessThan(MEAN_LEVELS);
    } finally {
      await Promise.all(pipelines.map((p) => p.dispose()));
      cleanup();
    }
  });

  describe('float16 demo bundle', () => {
    let bundle: { dir: string; cleanup: () => void };
    beforeAll(async () => {
      bundle = await tempDemoBundle({ float16Io: true });
    });
    afterAll(() => bundle?.cleanup());

    // SwiftShader has no shader-f16: refused at load with the reason, not at the first step.
    it('is refused on an adapter without shader-f16, naming the adapter and the way out', async () => {
      await expect(loadPipeline(bundle.dir, { device: 'webgpu' })).rejects.toThrow(/webgpu: the adapter \(google swiftshader .*software\) lacks shader-f16.*float32 bundle or another device/);
    });
  });

  describe('auto', () => {
    it('never picks the software adapter: it skips webgpu and says why', async () => {
      const { dir, cleanup } = await tempDemoBundle();
      const log: string[] = [];
      const pipeline = await loadPipeline(dir, { device: 'auto', log: (line) => log.push(line) });
      try {
        expect(pipeline.info.provider).toBe('cpu');
        const skipped = pipeline.info.providerSelection?.skipped ?? [];
        expect(skipped.find((s) => s.provider === 'webgpu')?.reason).toMatch(/^only a software adapter: google swiftshader .*slower than cpu$/);
        expect(pipeline.info.providerSelection?.adapter).toMatchObject({ architecture: 'swiftshader', software: true, shaderF16: false });
        expect(log.some((line) => /^webgpu unavailable \(only a software adapter/.test(line))).toBe(true);
      } finally {
        await pipeline.dispose();
        cleanup();
      }
    });
  });
});
