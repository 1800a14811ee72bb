/**
 * Per-step time and peak memory on each execution provider this machine has, side by side in one
 * run: every provider of this onnxruntime-node build that `--device` knows, each in a fresh
 * process (so peak RSS is its own), and WebGPU twice, with the latents kept on the device and with
 * a round trip through the host every step. With no WebGPU adapter, SwiftShader stands in where
 * Debian's chromium package is installed (a software adapter, which `auto` never picks).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeDemoBundle } from '../runtime/demo/index.ts';
import { availableProviders, describeAdapter, probeWebGpuAdapter, type WebGpuAdapter } from '../runtime/pipeline/index.ts';
import { DEVICES } from '../runtime/pipeline/providers.ts';
import { useSwiftShader } from '../test/helpers/swiftshader.ts';
import type { BenchResult } from './timing.ts';

const run = promisify(execFile);

interface Once {
  timings: { denoiseMs: number };
  peakRssBytes: number;
  provider: string;
  latentsOnDevice: boolean;
  adapter: WebGpuAdapter | null;
}

export async function benchProviders(size = Number(process.env.DYPE_BENCH_PROVIDER_SIZE ?? 512), steps = 3): Promise<{ title: string; results: BenchResult[] }> {
  const probe = await probeWebGpuAdapter();
  // With no adapter here, the children (which probe again) see SwiftShader if it is installed.
  if (!probe.adapter) useSwiftShader();
  let gpu = probe.adapter ? describeAdapter(probe.adapter) : probe.reason;
  const root = mkdtempSync(join(tmpdir(), 'dype-bench-providers-'));
  const dir = join(root, 'bundle');
  await writeDemoBundle(dir);
  const results: BenchResult[] = [];
  try {
    const providers = availableProviders().map((p) => p.name).filter((name) => (DEVICES as readonly string[]).includes(name));
    const arms = providers.flatMap((provider) => (provider === 'webgpu' ? [[provider, '1'], [provider, '0']] : [[provider, '1']]));
    for (const [provider, keep] of arms) {
      const label = provider === 'webgpu' ? `webgpu, ${keep === '1' ? 'latents on device' : 'host round trip per step'}` : provider;
      try {
        const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/generate-once.ts', dir, String(size), String(size), String(steps), provider, keep, '2'], { encoding: 'utf8', maxBuffer: 1 << 24 });
        const once = JSON.parse(stdout.trim().split('\n').pop()!) as Once;
        if (once.adapter) gpu = describeAdapter(once.adapter);
        // The whole loop over steps: a GPU provider may return before its work is done, and the
        // last step's read-back then waits for all of it.
        results.push({ name: label, medianMs: once.timings.denoiseMs / steps, note: `per step (denoise time / ${steps}); peak RSS ${(once.peakRssBytes / 2 ** 20).toFixed(0)} MiB` });
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? '';
        const reason = stderr.split('\n').find((l) => /^\w*Error: /.test(l)) ?? (error as Error).message.split('\n')[0];
        results.push({ name: label, note: `unavailable: ${reason.replace(/^\w*Error: could not load \S+: /, '').trim().slice(0, 160)}` });
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return { title: `Providers on the demo model, ${size}² (${(size / 64) ** 2} tokens), ${steps} steps after a warm-up; WebGPU adapter: ${gpu}`, results };
}
