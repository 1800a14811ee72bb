/**
 * Image-to-image on the demo model, measured side by side in one run:
 * - a refine from a 1024² picture to 4096² at strength s against text-to-image at 4096² with the same
 *   steps (the refine runs ⌈s·steps⌉ of them, so it should take about s of the time, plus the encode);
 * - the upload of a 16 MP init (sharp's header check and full decode, the atomic store) and its
 *   encode (read, resize onto the canvas, tiled VAE encode).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeDemoBundle } from '../runtime/demo/index.ts';
import { loadPipeline } from '../runtime/pipeline/index.ts';
import { inspectImage, UploadStore } from '../runtime/server/uploads.ts';
import { median, timeIt, type BenchResult } from './timing.ts';

export async function benchImageToImage(): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'dype-bench-i2i-'));
  const dir = join(root, 'bundle');
  await writeDemoBundle(dir);
  const results: BenchResult[] = [];
  try {
    const pipeline = await loadPipeline(dir, { device: 'cpu' });
    const steps = 8;
    const strength = 0.5;
    const base = { prompt: 'a lighthouse at dawn', seed: 1, steps, format: 'jpg' as const };
    const small = (await pipeline.generate({ ...base, width: 1024, height: 1024, format: 'png' })).image;
    const big = { ...base, width: 4096, height: 4096 };
    await pipeline.generate({ ...big, steps: 1 }); // warm-up
    const times = { refine: [] as number[], t2i: [] as number[], encodeInit: [] as number[], refineDenoise: [] as number[], t2iDenoise: [] as number[] };
    for (let round = 0; round < 3; round++) {
      const arms = round % 2 ? (['t2i', 'refine'] as const) : (['refine', 't2i'] as const);
      for (const arm of arms) {
        const r = await pipeline.generate(arm === 'refine' ? { ...big, init: { bytes: small, id: 'bench' }, strength } : big);
        times[arm].push(r.timings.totalMs);
        times[arm === 'refine' ? 'refineDenoise' : 't2iDenoise'].push(r.timings.denoiseMs);
        if (arm === 'refine') times.encodeInit.push(r.timings.encodeInitMs ?? 0);
      }
    }
    const [refine, t2i] = [median(times.refine), median(times.t2i)];
    results.push({ name: `text-to-image 4096², ${steps} steps`, medianMs: t2i });
    results.push({ name: `refine 1024² → 4096², strength ${strength} (${Math.ceil(steps * strength)} steps)`, medianMs: refine, note: `of which init encode ${median(times.encodeInit).toFixed(0)} ms` });
    results.push({ name: `refine / text-to-image, total`, ratio: refine / t2i, note: 'decode, image encode and init encode do not shrink with strength' });
    results.push({ name: `refine / text-to-image, denoising (target ≈ ${strength})`, ratio: median(times.refineDenoise) / median(times.t2iDenoise) });

    // A 16 MP init: smooth colour waves with a little texture, as a photo would compress.
    const side = 4096;
    const px = new Uint8Array(side * side * 3);
    for (let i = 0; i < side * side; i++) {
      const [x, y] = [i % side, Math.floor(i / side)];
      for (let k = 0; k < 3; k++) px[i * 3 + k] = (128 + 90 * Math.sin((x + 2 * y + 700 * k) / 900) + ((x * 7 + y * 13) % 9)) | 0;
    }
    const png = new Uint8Array(await sharp(px, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer());
    const store = new UploadStore(join(root, 'data'));
    await store.open();
    results.push({
      ...(await timeIt('upload 16 MP PNG: sharp check + decode, atomic store', async () => store.save(png, await inspectImage(png, 'image/png')), { repeats: 3 })),
      note: `${(png.byteLength / 2 ** 20).toFixed(1)} MiB`,
    });
    const encodeOnly: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await pipeline.generate({ ...big, steps: 1, init: { bytes: png, id: 'bench' }, strength: 0 });
      encodeOnly.push(r.timings.encodeInitMs ?? 0);
    }
    results.push({ name: 'encode 16 MP init: read, resize, tiled VAE encode', medianMs: median(encodeOnly) });
    await pipeline.dispose();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return results;
}
