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
import { fluxRopeFrequencies } from '../runtime/dype/index.ts';
import { encodeImage } from '../runtime/pipeline/image.ts';
import { loadPipeline } from '../runtime/pipeline/index.ts';
import { gaussianNoise } from '../runtime/pipeline/noise.ts';
import { median, timeIt, type BenchResult } from './timing.ts';

export async function benchPipeline(): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'dype-bench-'));
  const dir = join(root, 'bundle');
  await writeDemoBundle(dir);
  const results: BenchResult[] = [];
  try {
    const pipeline = await loadPipeline(dir, { device: 'cpu' });
    const req = { prompt: 'a lighthouse at dawn', width: 4096, height: 4096, seed: 1, steps: 4, format: 'jpg' as const };
    await pipeline.generate({ ...req, steps: 1 }); // warm-up
    // Interleaved rounds: dynamic, static, and static again as an A/A control for this machine's noise.
    const arms = ['dy-yarn', 'yarn', 'yarn (again)'] as const;
    const perStep: Record<(typeof arms)[number], number[]> = { 'dy-yarn': [], yarn: [], 'yarn (again)': [] };
    const outside: number[] = [];
    for (let round = 0; round < 8; round++) {
      const order = round % 2 ? [...arms].reverse() : arms;
      for (const arm of order) {
        const r = await pipeline.generate({ ...req, method: arm === 'dy-yarn' ? 'dy-yarn' : 'yarn' });
        perStep[arm].push(r.timings.denoiseMs / req.steps);
        outside.push((r.timings.denoiseMs - r.timings.denoiseOrtMs) / r.timings.denoiseMs);
      }
    }
    await pipeline.dispose();
    const dyn = median(perStep['dy-yarn']);
    const stat = median(perStep.yarn);
    const again = median(perStep['yarn (again)']);
    results.push({ name: 'per step, 4096² (64×64 tokens), static yarn', medianMs: stat });
    results.push({ name: 'per step, 4096² (64×64 tokens), dynamic dy-yarn', medianMs: dyn });
    results.push({ name: 'dynamic / static per-step time (target ≤ 1.02)', ratio: dyn / stat });
    results.push({ name: 'A/A control: static / static (this machine\'s noise)', ratio: again / stat });
    const feed = await timeIt('DyPE feed per step (fluxRopeFrequencies, 64×64)', () => fluxRopeFrequencies({ height: 64, width: 64, textTokens: 64 }, 0.5, { method: 'yarn', dynamic: true, baseLength: 16, axesDim: [4, 14, 14] }), { repeats: 201 });
    results.push({ ...feed, note: `${((feed.medianMs / dyn) * 100).toFixed(4)} % of a step` });
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
