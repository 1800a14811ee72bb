/**
 * The GPU check, run on a lent GPU machine by scripts/gpu-check/run.sh (bundled into one file by
 * pack.ts, so it needs no tsx there). For the demo model at 1024² and 4096²: per-step time on
 * WebGPU (latents kept on the device, and with a host round trip per step) against CPU, and the
 * WebGPU image against the CPU image; a float16 bundle at 1024² when the adapter has shader-f16;
 * an imported FLUX-dev-style export with and without fused attention (com.microsoft.MultiHeadAttention,
 * which ORT 1.30's WebGPU EP gets wrong on SwiftShader); and which provider `auto` picks. Then the
 * memory planner's inputs: a full-width FLUX.1 transformer (hidden 3072, 24 heads, 2 double + 4
 * single blocks, zero weights) in float32 and float16, per-step time and GPU memory at 1024² and
 * 2048² (WebGPU here, CUDA in cuda.py); every graph under probes/<name>/model.onnx is measured the
 * same way, so quantised (MatMulNBits) graphs written there join the table.
 * Prints a Markdown table and writes gpu-check.json to argv[2].
 * Works in argv[3] (default: a temp folder), leaving the float32 bundle in fp32/ and one step's
 * transformer feeds per size in feeds/<size>/ for cuda.py (ORT's CUDA EP through Python, where
 * that machine has one).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeDemoBundle } from '../../runtime/demo/index.ts';
import { importExport } from '../../runtime/import/index.ts';
import { describeAdapter, loadPipeline, probeWebGpuAdapter, type Pipeline } from '../../runtime/pipeline/index.ts';
import type { TensorData } from '../../runtime/pipeline/ort.ts';
import { writeExportFixture } from '../../test/import/fixtures/export.ts';
import { PROBE_CONFIG, probeFeeds, writeProbeTransformer } from '../../bench/activation-probe.ts';
import * as ort from 'onnxruntime-node';
import { imageLevels } from '../../test/helpers/compare.ts';

const outDir = process.argv[2] ?? '.';
const work = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'dype-gpu-check-'));
const feedsDir = join(work, 'feeds');
const STEPS = 4;
/** A dry run without a GPU (SwiftShader) takes smaller sizes: DYPE_GPU_CHECK_SIZES=256,512. */
const SIZES = (process.env.DYPE_GPU_CHECK_SIZES ?? '1024,4096').split(',').map(Number);
const rows: Record<string, unknown>[] = [];
const log = (line: string) => console.log(line);

async function generate(pipeline: Pipeline, size: number, dumpFeeds?: string) {
  const result = await pipeline.generate({ prompt: 'a lighthouse at dawn', width: size, height: size, seed: 1, steps: STEPS }, {
    onEvent: (e) => {
      if (dumpFeeds && e.kind === 'step' && e.step === 1) writeFeeds(dumpFeeds, e.feeds, size);
    },
  });
  const rgb = await sharp(result.image).raw().toBuffer();
  return { rgb, perStepMs: result.timings.denoiseMs / STEPS, totalMs: result.timings.totalMs, peakRssMiB: Math.round(result.peakRssBytes / 2 ** 20) };
}

function writeFeeds(dir: string, feeds: Readonly<Record<string, TensorData>>, size: number) {
  mkdirSync(dir, { recursive: true });
  const manifest: Record<string, { type: string; dims: readonly number[] }> = {};
  for (const [name, t] of Object.entries(feeds)) {
    writeFileSync(join(dir, `${name}.bin`), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    manifest[name] = { type: t.type, dims: t.dims };
  }
  manifest.hidden_states = { type: 'float32', dims: [1, (size / 64) ** 2, 16] };
  writeFileSync(join(dir, 'feeds.json'), JSON.stringify(manifest));
}

function levels(a: Buffer, b: Buffer) {
  const { max, mean } = imageLevels(a, b);
  return { maxLevels: max, meanLevels: Number(mean.toFixed(4)) };
}

const probe = await probeWebGpuAdapter();
log(`WebGPU adapter: ${probe.adapter ? `${describeAdapter(probe.adapter)}, shader-f16 ${probe.adapter.shaderF16}` : probe.reason}`);
const fp32 = join(work, 'fp32');
await writeDemoBundle(fp32);
const auto = await loadPipeline(fp32, { device: 'auto' });
log(`auto picks: ${auto.info.provider}; skipped: ${JSON.stringify(auto.info.providerSelection?.skipped ?? [])}`);
await auto.dispose();

async function compare(bundle: string, label: string, sizes: number[], arms: { name: string; keepOnDevice: boolean }[]) {
  const cpu = await loadPipeline(bundle, { device: 'cpu' });
  const gpus = await Promise.all(arms.map((arm) => loadPipeline(bundle, { device: 'webgpu', keepOnDevice: arm.keepOnDevice })));
  for (const size of sizes) {
    const ref = await generate(cpu, size, label === 'float32' ? join(feedsDir, String(size)) : undefined);
    rows.push({ bundle: label, size, provider: 'cpu', perStepMs: Math.round(ref.perStepMs), totalMs: Math.round(ref.totalMs), peakRssMiB: ref.peakRssMiB });
    for (const [i, gpu] of gpus.entries()) {
      await gpu.generate({ prompt: 'warm-up', width: size, height: size, seed: 2, steps: 2 }); // compiles shaders for this size
      const run = await generate(gpu, size);
      rows.push({ bundle: label, size, provider: `webgpu (${arms[i].name})`, perStepMs: Math.round(run.perStepMs), totalMs: Math.round(run.totalMs), peakRssMiB: run.peakRssMiB, ...levels(ref.rgb, run.rgb) });
    }
    log(JSON.stringify(rows.slice(-1 - gpus.length)));
  }
  await Promise.all([cpu, ...gpus].map((p) => p.dispose()));
}

try {
  await compare(fp32, 'float32', SIZES, [
    { name: 'latents on device', keepOnDevice: true },
    { name: 'host round trip', keepOnDevice: false },
  ]);
  const flux = await writeExportFixture(join(work, 'flux-export'));
  for (const fuseAttention of [false, true]) {
    const output = join(work, fuseAttention ? 'imported-fused' : 'imported');
    await importExport(flux, { output, fuseAttention });
    await compare(output, fuseAttention ? 'imported, fused attention' : 'imported', SIZES.slice(0, 1), [{ name: 'latents on device', keepOnDevice: true }]);
  }
  if (probe.adapter?.shaderF16) {
    const fp16 = join(work, 'fp16');
    await writeDemoBundle(fp16, { float16Io: true });
    await compare(fp16, 'float16', SIZES.slice(0, 1), [{ name: 'latents on device', keepOnDevice: true }]);
  }
  await measureProbes();
} catch (error) {
  log(`check failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
}

/** GPU memory in use (MiB) by nvidia-smi, or null where there is none. */
function gpuMemoryUsedMiB(): number | null {
  try {
    return Number(execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8' }).split('\n')[0]);
  } catch {
    return null;
  }
}

/** The full-width transformer probes (float32, float16, and any quantised graph in probes/) on WebGPU at 1024² and 2048². */
async function measureProbes() {
  const probes = join(work, 'probes');
  // A dry run here shrinks them: DYPE_GPU_CHECK_PROBE_WIDTH=256 DYPE_GPU_CHECK_PROBE_SIZES=128,256.
  const width = Number(process.env.DYPE_GPU_CHECK_PROBE_WIDTH ?? PROBE_CONFIG.hidden);
  const config = { ...PROBE_CONFIG, hidden: width, heads: width / PROBE_CONFIG.headDim, mlpHidden: 4 * width, depth: 2, depthSingle: 4 };
  for (const precision of ['float32', 'float16'] as const) {
    mkdirSync(join(probes, precision), { recursive: true });
    await writeProbeTransformer(join(probes, precision), precision, config);
  }
  writeFileSync(join(probes, 'config.json'), JSON.stringify(config));
  if (!probe.adapter) return log('probes: no WebGPU adapter; cuda.py measures them on CUDA');
  const idle = gpuMemoryUsedMiB();
  for (const name of readdirSync(probes).filter((n) => existsSync(join(probes, n, 'model.onnx')))) {
    if (name === 'float16' && !probe.adapter.shaderF16) continue;
    const session = await ort.InferenceSession.create(join(probes, name, 'model.onnx'), { executionProviders: ['webgpu'], graphOptimizationLevel: 'all' });
    for (const size of (process.env.DYPE_GPU_CHECK_PROBE_SIZES ?? '1024,2048').split(',').map(Number)) {
      const feeds = probeFeeds((size / 16) ** 2, config);
      await session.run(feeds); // compiles the shaders for this size
      const start = performance.now();
      await session.run(feeds);
      const used = gpuMemoryUsedMiB();
      rows.push({ bundle: `probe ${name} (2+4 blocks of width ${width})`, size, provider: 'webgpu', perStepMs: Math.round(performance.now() - start), gpuMemoryMiB: used !== null && idle !== null ? used - idle : null });
      log(JSON.stringify(rows.at(-1)));
    }
    await session.release();
  }
}

const header = '| bundle | size | provider | per step | total | peak RSS / GPU memory | vs CPU (8-bit levels) |';
log(['', header, '| --- | --- | --- | --- | --- | --- | --- |', ...rows.map((r) =>
  `| ${r.bundle} | ${r.size}² | ${r.provider} | ${r.perStepMs} ms | ${r.totalMs ?? '—'} ms | ${'gpuMemoryMiB' in r ? `GPU ${r.gpuMemoryMiB ?? '?'} MiB` : `${r.peakRssMiB} MiB`} | ${'maxLevels' in r ? `max ${r.maxLevels}, mean ${r.meanLevels}` : '—'} |`)].join('\n'));
writeFileSync(join(outDir, 'gpu-check.json'), JSON.stringify({ adapter: probe, steps: STEPS, rows }, null, 2));
