// Unfused attention detection, the 4K memory advice, and --fuse-attention (com.microsoft.MultiHeadAttention).
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fluxRopeFrequencies } from '../../runtime/dype/index.ts';
import { analyzeTransformer, formatAnalysis } from '../../runtime/import/analyze.ts';
import { readModel } from '../../runtime/onnx/graph.ts';
import { importExport } from '../../runtime/import/index.ts';
import { FIXTURE_DIMS, writeExportFixture, type ExportFixtureOptions } from './fixtures/export.ts';
import { maxAbs, maxAbsDiff, positions, runTransformer, tempRoot, writeFixtureTransformer } from './fixtures/run.ts';
import { mkdir, writeFile } from 'node:fs/promises';
import { DEMO_DIMS } from '../../runtime/demo/index.ts';
import { buildTransformer } from '../../runtime/demo/transformer.ts';

const { root, cleanup } = tempRoot('dype-import-attn-');
afterAll(cleanup);
let counter = 0;

describe('attention analysis', () => {
  it.each([
    ['post-scale', 'post-scale'],
    ['sdpa', 'pre-scale'],
  ] as const)('%s attention is found as unfused (%s), with the advice to fuse', async (attention, form) => {
    const a = analyzeTransformer(await writeFixtureTransformer(join(root, `a${counter++}`), { attention }));
    expect(a.attention.fusedCount).toBe(0);
    expect(a.attention.unfusedCount).toBe(2); // one double-stream and one single-stream block
    expect(a.attention.fusableCount).toBe(2);
    expect(a.attention.unfused.map((u) => u.form)).toEqual([form, form]);
    const text = formatAnalysis(a).join('\n');
    expect(text).toContain('2 unfused (2 rewritable by --fuse-attention)');
    expect(text).toMatch(/S = 66048 tokens.*16\.3 GiB per head/); // float32 scores: 66048² × 4 bytes
    expect(text).toContain('Export the transformer with fused attention for your execution provider');
  });

  it('fused exports are counted and get no advice to fuse', async () => {
    const a = analyzeTransformer(await writeFixtureTransformer(join(root, `a${counter++}`), { attention: 'fused', io: 'float16' }));
    expect(a.attention).toMatchObject({ fused: { 'com.microsoft.MultiHeadAttention': 2 }, fusedCount: 2, unfusedCount: 0 });
    expect(a.dtype).toBe('float16');
    expect(a.attention.advice.join(' ')).not.toContain('--fuse-attention');
  });

  it('a DyPE-ready bundle (the demo model) reports its inputs, with advice sized by the context', async () => {
    const dir = join(root, `demo${counter++}`);
    const demo = buildTransformer(DEMO_DIMS, { ropeInputs: 'omega', float16Io: false, guidance: true, seed: 1 });
    await mkdir(dir);
    await writeFile(join(dir, 'model.onnx_data'), demo.externalData!);
    await writeFile(join(dir, 'model.onnx'), demo.model);
    const a = analyzeTransformer(join(dir, 'model.onnx'), { pixelsPerToken: 64, textTokens: 64, heads: 2 });
    expect(a.rope.status).toBe('dype-inputs');
    expect(a.attention.unfusedCount).toBe(4); // q·(1/√d) then kᵀ: counted as pre-scaled
    expect(formatAnalysis(a).join('\n')).toContain('DyPE-ready: takes rope_omega + rope_mscale');
    expect(a.attention.advice[0]).toContain('S = 4160 tokens'); // (4096/64)² + 64
  });
});

describe('--fuse-attention', () => {
  const cases: [string, ExportFixtureOptions][] = [
    ['scale after q·kᵀ, float32', { attention: 'post-scale' }],
    ['TorchScript SDPA (√scale from Shape on q and kᵀ), float16 I/O', { attention: 'sdpa', io: 'float16' }],
    ['TorchScript SDPA, float64 RoPE', { attention: 'sdpa', freqDtype: 'float64', outer: 'mul', interleave: 'expand' }],
  ];
  it.each(cases)('%s: rewritten, verified, and equal to the unfused import under DyPE', async (_label, options) => {
    const exportDir = await writeExportFixture(join(root, `e${counter}`), options);
    const fusedOut = join(root, `fused${counter}`);
    const plainOut = join(root, `plain${counter++}`);
    const fused = await importExport(exportDir, { output: fusedOut, fuseAttention: true });
    expect(fused.attention).toEqual({ fused: 2, skipped: [] });
    expect(fused.verify?.passed).toBe(true);
    const graph = readModel(join(fusedOut, 'transformer/model.onnx')).graph;
    expect(graph.node.filter((n) => n.opType === 'MultiHeadAttention' && n.domain === 'com.microsoft').length).toBe(2);
    expect(graph.node.some((n) => n.opType === 'Softmax')).toBe(false);
    expect(analyzeTransformer(join(fusedOut, 'transformer/model.onnx')).attention).toMatchObject({ fusedCount: 2, unfusedCount: 0 });

    await importExport(exportDir, { output: plainOut, verify: false });
    const grid = { height: 48, width: 64, textTokens: 5 };
    const rope = fluxRopeFrequencies(grid, 0.8, { method: 'yarn', dynamic: true, baseLength: 16, axesDim: [...FIXTURE_DIMS.ropeAxesDim] });
    const input = { imgIds: positions([0, 17, 47], [0, 30, 63]), textTokens: 5, ...rope };
    const a = await runTransformer(join(fusedOut, 'transformer/model.onnx'), input);
    const b = await runTransformer(join(plainOut, 'transformer/model.onnx'), input);
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual((options.io === 'float16' ? 5e-3 : 1e-5) * Math.max(1, maxAbs(b)));
  });
});
