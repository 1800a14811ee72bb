/**
 * `dype convert` on a full-size FLUX.1-dev-shaped checkpoint: 11.9 B bf16 parameters with BFL key
 * names (about 24 GB), written once with random bytes. Measured in a fresh process: conversion
 * time, extra disk (the graph and metadata; the checkpoint is hard-linked) and peak RSS, which should
 * not depend on the model's size. Needs 1.2 × the checkpoint's size free on the temp folder's disk
 * and DYPE_BENCH_FULL_CONVERT=1 (writing 24 GB takes minutes); otherwise it says why it was skipped.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedShapes } from '../runtime/convert/flux.ts';
import { FLUX1_DEV } from '../runtime/memory/flux1-published.ts';
import { writeSparseCheckpoint } from './sparse-checkpoint.ts';
import type { BenchResult } from './timing.ts';

export async function benchConvert(): Promise<BenchResult[]> {
  const shapes = expectedShapes(FLUX1_DEV);
  const params = [...shapes.values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  const size = params * 2;
  if (process.env.DYPE_BENCH_FULL_CONVERT !== '1') {
    return [{ name: 'full-size FLUX.1-dev conversion', note: `skipped: set DYPE_BENCH_FULL_CONVERT=1 to write a ${(size / 1e9).toFixed(1)} GB bf16 checkpoint and convert it` }];
  }
  const root = mkdtempSync(join(tmpdir(), 'dype-bench-convert-'));
  try {
    const fs = statfsSync(root);
    if (fs.bavail * fs.bsize < size * 1.2) return [{ name: 'full-size FLUX.1-dev conversion', note: `skipped: needs ${(size * 1.2 / 1e9).toFixed(1)} GB free in ${root}` }];
    const checkpoint = join(root, 'flux1-dev.safetensors');
    const writeStart = performance.now();
    // one random 64 MiB block repeated: real bytes to hash and link, without minutes of RNG
    const written = writeSparseCheckpoint(checkpoint, [...shapes].sort(([a], [b]) => a.localeCompare(b)), 'BF16', randomFillSync(Buffer.alloc(64 * 2 ** 20)));
    const writeMs = performance.now() - writeStart;
    const bundle = join(root, 'transformer');
    execFileSync('mkdir', ['-p', bundle]);
    const freeBefore = statfsSync(root).bavail * statfsSync(root).bsize;
    const out = JSON.parse(execFileSync('npx', ['tsx', join(import.meta.dirname, 'convert-once.ts'), checkpoint, bundle], { encoding: 'utf8' })) as {
      ms: number;
      graphBytes: number;
      headerBytes: number;
      peakRssBytes: number;
      tensors: number;
    };
    const freeAfter = statfsSync(root).bavail * statfsSync(root).bsize;
    const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
    return [
      { name: `write ${(params / 1e9).toFixed(2)} B params bf16 (${gb(written)}, for the bench)`, medianMs: writeMs },
      { name: `convert the transformer (${out.tensors} tensors, header ${(out.headerBytes / 1024).toFixed(0)} KiB)`, medianMs: out.ms },
      { name: 'extra disk (graph + metadata; checkpoint hard-linked)', note: `${(out.graphBytes / 1024).toFixed(0)} KiB graph, ${((freeBefore - freeAfter) / 2 ** 20).toFixed(1)} MiB by statfs` },
      { name: 'peak RSS of the converting process', note: `${(out.peakRssBytes / 2 ** 20).toFixed(0)} MiB for a ${gb(written)} checkpoint` },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
