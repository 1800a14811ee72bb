/**
 * Quantized FLUX.1 on the CPU: a full-width partial transformer (hidden 3072, 24 heads, MLP 12288,
 * 2 double + 4 single blocks, 1.3 B parameters) written as GGUF Q8_0 and Q4_0 with random valid
 * blocks (and the layers city96 leaves unquantized in F16/F32), and as float32 safetensors. Each is
 * converted in one fresh process and run in another: peak RSS of the CPU session and one forward
 * against the file size (target ≤ 1.5 × GGUF + 400 MB) and against float32, and the time of one
 * step (512 tokens: 16×16 image + 256 text) as a ratio to float32, measured in the same run.
 * Writes about 7 GB to the temp folder: runs with DYPE_BENCH_GGUF=1, otherwise says so.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFloat16 } from '@petamoriken/float16';
import { expectedShapes, fluxAxesDim, type FluxConfig } from '../runtime/convert/flux.ts';
import { keepsStoredType } from '../runtime/convert/quantize.ts';
import { BLOCK_FORMATS, GGML_TYPE_IDS, storedBytes, type GgmlType } from '../runtime/convert/gguf/types.ts';
import { writeSparseCheckpoint } from './sparse-checkpoint.ts';
import { median, type BenchResult } from './timing.ts';

/** FLUX.1-dev's widths with 2 double and 4 single blocks. */
export const PARTIAL: FluxConfig = {
  naming: 'bfl', hidden: 3072, heads: 24, headDim: 128, mlpHidden: 12288, inChannels: 64, outChannels: 64, contextDim: 4096,
  vecDim: 768, timeDim: 256, depth: 2, depthSingle: 4, guidance: true, axesDim: fluxAxesDim(128), theta: 10000,
};
const IMAGE_SIDE = 16;
const TEXT_TOKENS = 256;
const FORWARDS = 3;

/** The type city96's files give each tensor: F32 for 1-D, F16 for the layers kept unquantized, `quantized` for the rest. */
function typeOf(key: string, shape: readonly number[], quantized: GgmlType): GgmlType {
  if (shape.length === 1) return 'F32';
  return keepsStoredType(key) ? 'F16' : quantized;
}

/** Random bytes for a tensor of `type`: valid blocks (a small positive f16 scale in each), small floats. */
function randomTensor(type: GgmlType, elements: number): Uint8Array {
  const bytes = new Uint8Array(storedBytes(type, elements));
  const view = new DataView(bytes.buffer);
  if (type === 'F32' || type === 'F16') {
    for (let i = 0; i < elements; i++) {
      const v = (Math.random() - 0.5) * 0.04;
      if (type === 'F32') view.setFloat32(i * 4, v, true);
      else setFloat16(view, i * 2, v, true);
    }
    return bytes;
  }
  randomFillSync(bytes);
  const { bytes: per } = BLOCK_FORMATS[type];
  for (let at = 0; at < bytes.length; at += per) setFloat16(view, at, 0.0005 + Math.random() * 0.0005, true); // Q8_0/Q4_0: d first
  return bytes;
}

/** A GGUF v3 file of `shapes` (ggml's layout: header, tensor infos with ne[0] first, 32-aligned data). */
export function writeGguf(path: string, shapes: Map<string, number[]>, quantized: GgmlType): number {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
  parts.push(Buffer.from('GGUF'), u32(3), u64(shapes.size), u64(1), str('general.architecture'), u32(8), str('flux'));
  let offset = 0;
  const tensors: [string, GgmlType, number][] = [];
  for (const [key, shape] of shapes) {
    const type = typeOf(key, shape, quantized);
    const elements = shape.reduce((a, b) => a * b, 1);
    parts.push(str(key), u32(shape.length), ...[...shape].reverse().map(u64), u32(GGML_TYPE_IDS[type]), u64(offset));
    tensors.push([key, type, elements]);
    offset += Math.ceil(storedBytes(type, elements) / 32) * 32;
  }
  let header = Buffer.concat(parts);
  header = Buffer.concat([header, Buffer.alloc((32 - (header.length % 32)) % 32)]);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    let at = header.length;
    for (const [, type, elements] of tensors) {
      const data = randomTensor(type, elements);
      writeSync(fd, data, 0, data.length, at);
      at += Math.ceil(data.length / 32) * 32;
    }
  } finally {
    closeSync(fd);
  }
  return header.length + offset;
}

function once<T>(...args: string[]): T {
  return JSON.parse(execFileSync('npx', ['tsx', join(import.meta.dirname, 'gguf-once.ts'), ...args], { encoding: 'utf8', maxBuffer: 1 << 20 })) as T;
}

interface RunResult {
  sessionMs: number;
  times: number[];
  finite: boolean;
  rssAfterSession: number;
  peakRssBytes: number;
}

export async function benchGguf(): Promise<BenchResult[]> {
  const shapes = expectedShapes(PARTIAL);
  const params = [...shapes.values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  const name = 'quantized FLUX.1 transformer (2 + 4 blocks, full width)';
  if (process.env.DYPE_BENCH_GGUF !== '1') return [{ name, note: `skipped: set DYPE_BENCH_GGUF=1 to write ${((params * 6.2) / 1e9).toFixed(1)} GB of GGUF and float32 checkpoints and run them` }];
  const root = mkdtempSync(join(tmpdir(), 'dype-bench-gguf-'));
  const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
  try {
    const fs = statfsSync(root);
    if (fs.bavail * fs.bsize < params * 7) return [{ name, note: `skipped: needs ${gb(params * 7)} free in ${root}` }];
    const results: BenchResult[] = [];
    const variants = [
      { label: 'float32', file: 'flux-partial-f32.safetensors', write: (p: string) => writeSparseCheckpoint(p, shapes, 'F32', new Uint8Array(new Float32Array(16 * 2 ** 20).map(() => (Math.random() - 0.5) * 0.04).buffer)) },
      { label: 'Q8_0', file: 'flux-partial-Q8_0.gguf', write: (p: string) => writeGguf(p, shapes, 'Q8_0') },
      { label: 'Q4_0', file: 'flux-partial-Q4_0.gguf', write: (p: string) => writeGguf(p, shapes, 'Q4_0') },
    ];
    let float32: { step: number; peak: number } | null = null;
    for (const v of variants) {
      const checkpoint = join(root, v.file);
      const size = v.write(checkpoint);
      const dir = join(root, v.label);
      mkdirSync(dir);
      const converted = once<{ ms: number; peakRssBytes: number; weightsBytes: number }>('convert', checkpoint, dir);
      const run = once<RunResult>('run', dir, String(IMAGE_SIDE), String(TEXT_TOKENS), String(FORWARDS));
      const step = median(run.times.slice(1));
      const target = 1.5 * size + 400e6;
      results.push(
        { name: `${v.label}: file ${gb(size)} (${(params / 1e9).toFixed(2)} B params)`, note: v.label === 'float32' ? 'weights read in place' : `weights.bin ${gb(converted.weightsBytes)} (${(converted.weightsBytes / size).toFixed(2)} × the file)` },
        { name: `${v.label}: convert (peak RSS ${gb(converted.peakRssBytes)})`, medianMs: converted.ms },
        { name: `${v.label}: CPU session`, medianMs: run.sessionMs, note: `RSS after creation ${gb(run.rssAfterSession)}` },
        {
          name: `${v.label}: peak RSS, session + ${FORWARDS} forwards`,
          note: `${gb(run.peakRssBytes)} = ${(run.peakRssBytes / size).toFixed(2)} × file` +
            (v.label === 'float32' ? '' : `; target 1.5 × file + 400 MB = ${gb(target)} ${run.peakRssBytes <= target ? 'met' : 'MISSED'}; ${(run.peakRssBytes / float32!.peak).toFixed(2)} × float32`),
        },
        { name: `${v.label}: one step (${IMAGE_SIDE * IMAGE_SIDE} + ${TEXT_TOKENS} tokens)${run.finite ? '' : ' NON-FINITE'}`, medianMs: step, ratio: float32 ? step / float32.step : 1 },
      );
      if (v.label === 'float32') float32 = { step, peak: run.peakRssBytes };
      rmSync(checkpoint);
      rmSync(dir, { recursive: true });
    }
    return results;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

// Run on its own: `DYPE_BENCH_GGUF=1 npx tsx bench/gguf.ts`.
if (process.argv[1] === import.meta.filename) {
  const { printResults } = await import('./timing.ts');
  printResults('Quantized FLUX.1 transformer on the CPU (GGUF Q8_0 / Q4_0 vs float32)', await benchGguf());
}
