// `dype import` on graphs written by the real exporter: torch.onnx.export of tiny FLUX transformers
// written after diffusers' and BFL's public module code (fixtures/real-export/make_fixtures.py,
// committed with their torch outputs; CI needs no torch).
import sharp from 'sharp';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importExport } from '../../runtime/import/index.ts';
import { loadPipeline } from '../../runtime/pipeline/index.ts';
import { createSession, type TensorData } from '../../runtime/pipeline/ort.ts';
import { writeExportFixture } from './fixtures/export.ts';
import { realExportRope } from './fixtures/real-export/dype-rope.ts';
import { maxAbsDiff, tempRoot } from './fixtures/run.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures/real-export');

interface Tensor {
  dims: number[];
  data: number[];
}
interface References {
  rope: Record<string, { axesDim: number[]; omega: number[]; mscale: number[] }>;
  bflTextMaxlen: number;
  inputs: Record<string, Record<string, Tensor>>;
  fixtures: Record<string, { family: 'diffusers' | 'bfl'; dtype: 'float32' | 'float16'; native: number[]; dype: number[]; dims: number[] }>;
}
const references = JSON.parse(readFileSync(join(FIXTURES, 'references.json'), 'utf8')) as References;

/** The stated tolerances: float32 within 1e-4 absolute, float16 within 1e-2 (torch ran float32 on the float16 weights). */
const TORCH_TOLERANCE = { float32: 1e-4, float16: 1e-2 } as const;

const { root, cleanup } = tempRoot('dype-real-export-');
afterAll(cleanup);

/** An optimum-layout export folder around the fixture's transformer (text encoders, VAE, tokenizers from the test fixtures). */
async function exportFolder(name: string): Promise<string> {
  const dir = await writeExportFixture(join(root, `export-${name}`));
  const transformer = join(dir, 'transformer');
  for (const file of ['model.onnx', 'model.onnx_data', 'config.json']) rmSync(join(transformer, file), { force: true });
  for (const file of readdirSync(join(FIXTURES, name))) copyFileSync(join(FIXTURES, name, file), join(transformer, file));
  const { family } = references.fixtures[name];
  if (family === 'diffusers') {
    const config = { _class_name: 'FluxTransformer2DModel', attention_head_dim: 32, axes_dims_rope: references.rope.diffusers.axesDim, guidance_embeds: true, in_channels: 16, joint_attention_dim: 32, num_attention_heads: 1, num_layers: 1, num_single_layers: 1, patch_size: 1, pooled_projection_dim: 32 };
    writeFileSync(join(transformer, 'config.json'), JSON.stringify(config));
  }
  return dir;
}

/** Runs `path` once on the fixture family's reference inputs, with `rope` fed when the graph takes it. */
async function run(path: string, family: string, rope?: { omega: ArrayLike<number>; mscale: ArrayLike<number> }): Promise<Float32Array> {
  const f32 = (t: Tensor): TensorData => ({ type: 'float32', data: Float32Array.from(t.data), dims: t.dims });
  const feeds: Record<string, TensorData> = Object.fromEntries(Object.entries(references.inputs[family]).map(([name, t]) => [name, f32(t)]));
  if (rope) {
    feeds.rope_omega = { type: 'float32', data: Float32Array.from(rope.omega), dims: [rope.omega.length] };
    feeds.rope_mscale = { type: 'float32', data: Float32Array.from(rope.mscale), dims: [rope.mscale.length] };
  }
  const session = await createSession(path, 'cpu');
  try {
    const out = await session.run(Object.fromEntries(session.inputs.map((i) => [i.name, feeds[i.name]])));
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('real-export fixtures', () => {
  it('were computed at the DyPE ω/mscale runtime/dype gives today', () => {
    const now = realExportRope();
    for (const family of ['diffusers', 'bfl']) {
      expect(references.rope[family].axesDim).toEqual(now[family].axesDim);
      expect(maxAbsDiff(references.rope[family].omega, now[family].omega)).toBeLessThan(1e-12);
      expect(maxAbsDiff(references.rope[family].mscale, now[family].mscale)).toBeLessThan(1e-12);
    }
  });

  for (const [name, fixture] of Object.entries(references.fixtures)) {
    describe(name, () => {
      let output = '';
      const tolerance = TORCH_TOLERANCE[fixture.dtype];

      it('the export itself matches torch at native RoPE', async () => {
        const original = await run(join(FIXTURES, name, 'model.onnx'), fixture.family);
        expect(maxAbsDiff(original, fixture.native)).toBeLessThan(tolerance);
      });

      it('imports with the self-check on', async () => {
        output = join(root, `bundle-${name}`);
        const report = await importExport(await exportFolder(name), { output });
        expect(report.verify?.passed).toBe(true);
        expect(report.verify?.dype?.passed).toBe(true);
        expect(report.rope.axesDim).toEqual(references.rope[fixture.family].axesDim);
      });

      it('fed native ω and mscale 1, equals the original export', async () => {
        const axesDim = references.rope[fixture.family].axesDim;
        const omega = axesDim.flatMap((d) => Array.from({ length: d / 2 }, (_, j) => 1 / 10000 ** ((2 * j) / d)));
        const imported = await run(join(output, 'transformer/model.onnx'), fixture.family, { omega, mscale: omega.map(() => 1) });
        const original = await run(join(FIXTURES, name, 'model.onnx'), fixture.family);
        expect(maxAbsDiff(imported, original)).toBeLessThan(fixture.dtype === 'float32' ? 1e-5 : 2e-3);
      });

      it('fed DyPE ω/mscale, equals the torch reference', async () => {
        const imported = await run(join(output, 'transformer/model.onnx'), fixture.family, references.rope[fixture.family]);
        expect(maxAbsDiff(imported, fixture.dype)).toBeLessThan(tolerance);
        // …and DyPE changed the output well beyond that tolerance, so the comparison means something.
        expect(maxAbsDiff(fixture.dype, fixture.native)).toBeGreaterThan(10 * tolerance);
      });

      it('generates through the normal pipeline at the requested pixel size', async () => {
        const pipeline = await loadPipeline(output, { device: 'cpu' });
        try {
          const result = await pipeline.generate({ prompt: 'a red fox in the snow', width: 192, height: 128, seed: 5, steps: 2, method: 'dy-yarn' });
          const meta = await sharp(result.image).metadata();
          expect([meta.width, meta.height]).toEqual([192, 128]);
        } finally {
          await pipeline.dispose();
        }
      });
    });
  }
});
