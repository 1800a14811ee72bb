/**
 * The companion's HTTP side while a big job runs: /v1/health latency and upload throughput during a
 * 4096² demo-model job, against the same companion idle, side by side in one run. The engine runs in
 * its worker thread, as `dype serve` runs it; the same pipeline on the server's thread is measured
 * too, for what the worker buys.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { writeDemoBundle } from '../runtime/demo/index.ts';
import { loadPipeline, PipelineWorker, type Engine } from '../runtime/pipeline/index.ts';
import { createCompanion } from '../runtime/server/index.ts';
import { median, printResults, type BenchResult } from './timing.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const SIDE = 4096;

function call(port: number, method: string, path: string, body?: Uint8Array, type = 'application/json'): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` };
    if (body) Object.assign(headers, { 'Content-Type': type, 'Content-Length': String(body.byteLength) });
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - start }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An uncompressed PNG of noise-like pixels: side² × 3 bytes of body. */
async function noisePng(side: number): Promise<Uint8Array> {
  const raw = new Uint8Array(side * side * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (Math.imul(i, 2654435761) >>> 13) & 255;
  return new Uint8Array(await sharp(raw, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer());
}

interface Sample {
  healthMs: number[];
  /** Whole uploads: the body received, the image checked (a full decode) and stored. */
  uploadMBps: number[];
  /** The same number of bytes that are not an image: received, then refused at once (the transfer alone). */
  bodyMBps: number[];
  loopDelayP99Ms: number;
}

async function sample(port: number, png: Uint8Array, busy: () => boolean, minRounds: number): Promise<Sample> {
  const healthMs: number[] = [];
  const uploadMBps: number[] = [];
  const bodyMBps: number[] = [];
  const garbage = new Uint8Array(png.byteLength).fill(0x5a);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  for (let round = 0; round < minRounds || (busy() && round < 50); round++) {
    if (round >= minRounds && !busy()) break;
    healthMs.push((await call(port, 'GET', '/v1/health')).ms);
    const up = await call(port, 'POST', '/v1/uploads', png, 'image/png');
    if (up.status !== 201) throw new Error(`upload answered ${up.status}`);
    uploadMBps.push(png.byteLength / 1e6 / (up.ms / 1000));
    const body = await call(port, 'POST', '/v1/uploads', garbage, 'image/png');
    if (body.status !== 400) throw new Error(`a body that is no image answered ${body.status}`);
    bodyMBps.push(garbage.byteLength / 1e6 / (body.ms / 1000));
    await new Promise((r) => setTimeout(r, 50));
  }
  delay.disable();
  return { healthMs, uploadMBps, bodyMBps, loopDelayP99Ms: delay.percentile(99) / 1e6 };
}

export async function benchCompanionLoad(): Promise<BenchResult[]> {
  const root = await mkdtemp(join(tmpdir(), 'dype-bench-load-'));
  const bundle = join(root, 'bundle');
  await writeDemoBundle(bundle);
  const png = await noisePng(2048);
  const mb = (png.byteLength / 1e6).toFixed(1);
  const results: BenchResult[] = [];
  try {
    const arms: Array<[string, () => Promise<Engine & { dispose(): Promise<void> }>]> = [
      ['engine in its worker thread (dype serve)', () => PipelineWorker.start(bundle, { device: 'cpu' })],
      ['engine on the server thread', () => loadPipeline(bundle, { device: 'cpu' })],
    ];
    for (const [arm, load] of arms) {
      const engine = await load();
      const companion = await createCompanion({ engine, dataDir: join(root, `data-${results.length}`), token: TOKEN, port: 0, version: '0.0.0-bench', memoryBytes: 64 * 2 ** 30 });
      const port = Number(new URL(await companion.listen()).port);
      try {
        const idle = await sample(port, png, () => false, 8);
        const job = await call(port, 'POST', '/v1/jobs', new TextEncoder().encode(JSON.stringify({ prompt: 'load', width: SIDE, height: SIDE, steps: 8, seed: 1 })));
        if (job.status !== 202) throw new Error(`job answered ${job.status}`);
        const running = () => companion.stats().running > 0;
        while (!running()) await new Promise((r) => setTimeout(r, 10));
        const loaded = await sample(port, png, running, 4);
        const max = (xs: number[]) => Math.max(...xs).toFixed(1);
        results.push(
          { name: `${arm}: GET /v1/health, idle`, medianMs: median(idle.healthMs), note: `max ${max(idle.healthMs)} ms; loop delay p99 ${idle.loopDelayP99Ms.toFixed(1)} ms` },
          { name: `${arm}: GET /v1/health, during a ${SIDE}² job`, medianMs: median(loaded.healthMs), ratio: median(loaded.healthMs) / median(idle.healthMs), note: `max ${max(loaded.healthMs)} ms over ${loaded.healthMs.length}; loop delay p99 ${loaded.loopDelayP99Ms.toFixed(1)} ms (target < 50 ms)` },
          { name: `${arm}: POST /v1/uploads ${mb} MB PNG, idle`, note: `${median(idle.uploadMBps).toFixed(1)} MB/s (received, decoded, stored)` },
          { name: `${arm}: POST /v1/uploads ${mb} MB PNG, during the job`, ratio: median(loaded.uploadMBps) / median(idle.uploadMBps), note: `${median(loaded.uploadMBps).toFixed(1)} MB/s (ratio: during / idle)` },
          { name: `${arm}: ${mb} MB body received, idle`, note: `${median(idle.bodyMBps).toFixed(1)} MB/s (not an image: refused once received)` },
          { name: `${arm}: ${mb} MB body received, during the job`, ratio: median(loaded.bodyMBps) / median(idle.bodyMBps), note: `${median(loaded.bodyMBps).toFixed(1)} MB/s (ratio: during / idle)` },
        );
      } finally {
        await companion.close();
        await engine.dispose();
      }
    }
    return results;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('companion-load.ts')) {
  printResults(`Companion while a ${SIDE}² demo job runs vs idle`, await benchCompanionLoad());
}
