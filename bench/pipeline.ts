/**
 * The pipeline on the demo model, measured side by side in one run:
 * - per-step time with dynamic (DyPE) vs static RoPE at 4× native — DyPE should cost nothing;
 * - the share of the denoising loop spent outside ORT `run` calls;
 * - total time and peak RSS for 1024² and 4096² (each in a fresh process);
 * - PNG/JPEG encode time for a 16 MP image.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDemoBundle } from '../runtime/demo/index.ts';
import { encodeImage } from '../runtime/pipeline/image.ts';
import { loadPipeline } from '../runtime/pipeline/index.ts';
import { gaussianNoise } from '../runtime/pipeline/noise.ts';
import { timeIt, type BenchResult } from './timing.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchPipeline(): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'dype-bench-'));
  const dir = join(root, 'bundle');
  await writeDemoBundle(dir);
  const results: BenchResult[] = [];
  try {
    const pipeline = await loadPipeline(dir, { device: 'cpu' });
    const req = { prompt: 'a lighthouse at dawn', width: 4096, height: 4096, seed: 1, steps: 6, format: 'jpg' as const };
    await pipeline.generate({ ...req, steps: 1 }); // warm-up
    const perStep: Record<'dy-yarn' | 'yarn', number[]> = { 'dy-yarn': [], yarn: [] };
    const outside: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const method of round % 2 ? (['yarn', 'dy-yarn'] as const) : (['dy-yarn', 'yarn'] as const)) {
        const r = await pipeline.generate({ ...req, method });
        perStep[method].push(r.timings.perStepMs);
        outside.push((r.timings.denoiseMs - r.timings.denoiseOrtMs) / r.timings.denoiseMs);
      }
    }
    await pipeline.dispose();
    const dyn = median(perStep['dy-yarn']);
    const stat = median(perStep.yarn);
    results.push({ name: 'per step, 4096² (64×64 tokens), static yarn', medianMs: stat });
    results.push({ name: 'per step, 4096² (64×64 tokens), dynamic dy-yarn', medianMs: dyn });
    results.push({ name: 'dynamic / static per-step time (target ≤ 1.02)', ratio: dyn / stat });
    results.push({ name: 'denoising loop time outside ORT run (target ≤ 3%)', ratio: median(outside), note: `${(median(outside) * 100).toFixed(2)} %` });

    for (const [size, steps] of [[1024, 8], [4096, 8]] as const) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/generate-once.ts', dir, String(size), String(size), String(steps)], { encoding: 'utf8' });
      const { timings, peakRssBytes } = JSON.parse(out.trim().split('\n').pop()!) as { timings: Record<string, number>; peakRssBytes: number };
      const outsideAll = (timings.totalMs - timings.ortMs) / timings.totalMs;
      results.push({
        name: `generate ${size}² PNG, ${steps} steps (fresh process)`,
        medianMs: timings.totalMs,
        note: `peak RSS ${(peakRssBytes / 2 ** 20).toFixed(0)} MiB; denoise ${timings.denoiseMs.toFixed(0)} ms, decode ${timings.decodeMs.toFixed(0)} ms, encode ${timings.encodeMs.toFixed(0)} ms; outside ORT ${(outsideAll * 100).toFixed(1)} % of total`,
      });
    }

    const noise = gaussianNoise(5, 4096 * 4096 * 3);
    const rgb = { data: Uint8Array.from(noise, (v, i) => (((i >> 12) + (i % 3) * 60 + Math.round(v * 8)) & 255)), width: 4096, height: 4096 };
    results.push(await timeIt('encode 16 MP PNG (sharp + iTXt metadata)', () => encodeImage(rgb, 'png', null, { prompt: 'x' }), { repeats: 3 }));
    results.push(await timeIt('encode 16 MP JPEG q92 (sharp)', () => encodeImage(rgb, 'jpg', null, { prompt: 'x' }), { repeats: 3 }));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return results;
}
