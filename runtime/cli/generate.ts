import { SingleBar, Presets } from 'cli-progress';
import { randomInt } from 'node:crypto';
import { extname, resolve } from 'node:path';
import { MAX_SEED } from '../contract/index.ts';
import { writeFileAtomic } from '../files/atomic.ts';
import { loadPipeline } from '../pipeline/index.ts';
import type { DypeExponent, GenerationMethod, ImageFormat, YarnScaling } from '../pipeline/types.ts';
import type { Device } from '../pipeline/providers.ts';
import { resolveModelDir } from './model.ts';
import type { MemoryMode } from '../memory/plan.ts';

export interface GenerateCliOptions {
  prompt: string;
  width: number;
  height: number;
  seed?: number;
  steps?: number;
  method: GenerationMethod;
  guidance?: number;
  dypeScale?: number;
  dypeExponent?: DypeExponent;
  yarnScaling: YarnScaling;
  model?: string;
  device: Device;
  memory: MemoryMode;
  gpuMemory?: number;
  format?: ImageFormat;
  output: string;
  progress: boolean;
}

export function formatFromName(file: string): ImageFormat {
  const ext = extname(file).toLowerCase();
  return ext === '.jpg' || ext === '.jpeg' ? 'jpg' : 'png';
}


export async function generateCommand(opts: GenerateCliOptions): Promise<void> {
  const output = resolve(opts.output);
  const dir = await resolveModelDir(opts.model);
  const pipeline = await loadPipeline(dir, { device: opts.device, memory: opts.memory, gpuMemoryGB: opts.gpuMemory, size: { width: opts.width, height: opts.height }, log: (l) => console.error(l) });
  if (pipeline.info.demo) console.error('note: using the embedded demo model (untrained): the image will be abstract.');
  const seed = opts.seed ?? randomInt(0, MAX_SEED + 1);
  const bar = opts.progress && process.stderr.isTTY !== false ? new SingleBar({ format: 'denoising [{bar}] {value}/{total} steps | σ {sigma} | ETA {eta_s}s', stream: process.stderr }, Presets.shades_classic) : null;
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const result = await pipeline.generate(
      { prompt: opts.prompt, width: opts.width, height: opts.height, seed, steps: opts.steps, guidance: opts.guidance, method: opts.method, dypeScale: opts.dypeScale, dypeExponent: opts.dypeExponent, yarnScaling: opts.yarnScaling, format: opts.format ?? formatFromName(output) },
      {
        signal: abort.signal,
        onEvent: (event) => {
          if (!bar || event.kind !== 'step') return;
          if (event.step === 1) bar.start(event.steps, 0, { sigma: '1.000' });
          bar.update(event.step, { sigma: event.sigma.toFixed(3), eta_s: Math.round(event.etaMs / 1000) });
        },
      },
    );
    bar?.stop();
    await writeFileAtomic(output, result.image);
    const t = result.timings;
    console.log(
      `${output}: ${result.width}×${result.height} ${result.format}, seed ${result.seed}, ${result.steps} steps ${result.method} ` +
        `(λs ${result.dypeScale}, λt ${result.dypeExponent}${result.dypeExponentAuto ? ' auto' : ''}) | ` +
        `${t.perStepMs.toFixed(0)} ms/step, total ${(t.totalMs / 1000).toFixed(2)} s (decode ${(t.decodeMs / 1000).toFixed(2)} s), ` +
        `peak RSS ${(result.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
    await pipeline.dispose();
  }
}
