/**
 * `dype convert` on full-size FLUX.2 [klein] 4B files as ComfyUI has them: the 4B transformer and
 * Qwen3-4B in bf16 and the FLUX.2 VAE in float32 (about 16 GB together), with their real key names
 * and shapes (test/convert/reference-flux2/fixtures/full-size-shapes.json) and random-free sparse
 * data: conversion reads headers only (and the VAE's 256 BatchNorm statistics), so the files take
 * no disk and need no time to write. Measured in a fresh process: conversion time, extra disk (the
 * graphs and metadata; the checkpoints are hard-linked) and peak RSS.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KLEIN_FIXTURES } from '../test/convert/helpers/klein-fixtures.ts';
import type { BenchResult } from './timing.ts';
import { writeSparseCheckpoint } from './sparse-checkpoint.ts';

type Shapes = Record<string, number[]>;

/** Keys in order, as safetensors writers store them. */
const sorted = (shapes: Shapes) => Object.entries(shapes).sort(([a], [b]) => a.localeCompare(b));

export async function benchConvertKlein(): Promise<BenchResult[]> {
  const shapes = JSON.parse(readFileSync(join(KLEIN_FIXTURES, 'full-size-shapes.json'), 'utf8')) as { transformer: Shapes; qwen3: Shapes; vae: Shapes };
  const root = mkdtempSync(join(tmpdir(), 'dype-bench-convert-klein-'));
  try {
    const models = join(root, 'models');
    mkdirSync(models);
    const bf16 = () => 'BF16' as const;
    let total = writeSparseCheckpoint(join(models, 'flux-2-klein-4b.safetensors'), sorted(shapes.transformer), bf16);
    total += writeSparseCheckpoint(join(models, 'qwen_3_4b.safetensors'), sorted(shapes.qwen3), bf16);
    total += writeSparseCheckpoint(join(models, 'flux2-vae.safetensors'), sorted(shapes.vae), (key) => (key.endsWith('num_batches_tracked') ? 'I64' : 'F32'));
    const out = JSON.parse(
      execFileSync('npx', ['tsx', join(import.meta.dirname, 'convert-bundle-once.ts'), models, join(root, 'bundle'), KLEIN_FIXTURES], { encoding: 'utf8' }),
    ) as { ms: number; extraBytes: number; peakRssBytes: number; graphs: number };
    const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
    return [
      { name: `convert klein 4B + Qwen3-4B + VAE (${gb(total)}, sparse)`, medianMs: out.ms },
      { name: 'extra disk (graphs + metadata; checkpoints hard-linked)', note: `${(out.extraBytes / 2 ** 20).toFixed(2)} MiB for ${out.graphs} graphs` },
      { name: 'peak RSS of the converting process', note: `${(out.peakRssBytes / 2 ** 20).toFixed(0)} MiB for ${gb(total)} of checkpoints` },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
