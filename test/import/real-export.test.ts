// `dype import` on graphs written by the real exporter: torch.onnx.export of tiny FLUX transformers
// written after diffusers' and BFL's public module code (fixtures/real-export/make_fixtures.py,
// committed with their torch outputs; CI needs no torch).
import sharp from 'sharp';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeTransformer, importExport, type ImportReport } from '../../runtime/import/index.ts';
import { readModel, renameUses, serializeModel } from '../../runtime/onnx/graph.ts';
import { DataType, makeNode, makeTensor, setElemType } from '../../runtime/onnx/proto.ts';
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

const reports: Record<string, ImportReport> = {};

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
        reports[name] = report;
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

describe('what the real graphs look like, as the import reads them', () => {
  it('diffusers: ω a float32 Constant per axis, Einsum "i,j->ij", repeat-interleave as SplitToSequence→Loop→ConcatFromSequence; int64 ids kept', () => {
    for (const name of ['diffusers-opset14-fp32', 'diffusers-opset17-fp16']) {
      const a = analyzeTransformer(join(FIXTURES, name, 'model.onnx'));
      expect(a.inputs.find((i) => i.name === 'img_ids')?.dtype).toBe('int64');
      expect(a.rope.axes!.map((x) => [x.form, x.constantDtype, x.interleave])).toEqual(new Array(3).fill(['Einsum', 'float32', 'SplitToSequence→Loop→ConcatFromSequence→Cast']));
      expect(new Set(a.rope.axes!.map((x) => x.constant)).size).toBe(3);
    }
  });

  it("BFL: Einsum \"...n,d->...nd\", 2×2 rotation matrices, one ω shared by the two equal axes, output latent", () => {
    const a = analyzeTransformer(join(FIXTURES, 'bfl-opset17-fp32', 'model.onnx'));
    expect(a.outputs.map((o) => o.name)).toEqual(['latent']);
    expect(a.rope.axesDim).toEqual([8, 12, 12]);
    expect(a.rope.axes!.map((x) => x.interleave)).toEqual(new Array(3).fill('Unsqueeze→Concat→Reshape→Cast'));
    expect(a.rope.axes![1].constant).toBe(a.rope.axes![2].constant); // shared, yet each axis reads its own rope_omega slice:
    expect(reports['bfl-opset17-fp32'].verify?.dype?.passed).toBe(true); // the DyPE check gives the two axes different ω
    expect(a.externalData.length).toBeGreaterThan(10); // one file per tensor, as torch writes models over 2 GB
  });
});

describe("BFL's static text length", () => {
  it('sets the bundle\'s T5 length to the graph\'s, with a warning', () => {
    const report = reports['bfl-opset17-fp32'];
    expect(report.config.text.t5MaxLength).toBe(references.bflTextMaxlen);
    expect(report.warnings.join('\n')).toMatch(/fixed 16 text tokens .* padded to 16 tokens, and longer ones truncated/);
  });

  it('pads short prompts to it and truncates long ones with a warning', async () => {
    const lines: string[] = [];
    const pipeline = await loadPipeline(join(root, 'bundle-bfl-opset17-fp32'), { device: 'cpu', log: (line) => lines.push(line) });
    try {
      await pipeline.generate({ prompt: 'fox', width: 64, height: 64, seed: 1, steps: 1 });
      expect(lines.filter((l) => l.includes('truncated'))).toEqual([]);
      const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
      const result = await pipeline.generate({ prompt: long, width: 64, height: 64, seed: 1, steps: 1 });
      expect(result.width).toBe(64);
      expect(lines.find((l) => l.includes('truncated'))).toMatch(/the prompt is \d+ T5 tokens; this model reads 16, so it was truncated/);
    } finally {
      await pipeline.dispose();
    }
  });
});

describe('other graphs', () => {
  it('opset 21 (the BFL graph declared at opset 21) imports and verifies', async () => {
    const dir = await exportFolder('bfl-opset17-fp32');
    const model = readModel(join(dir, 'transformer/model.onnx'));
    // What changed between opsets 17 and 21 for these ops: Reduce* take axes as an input from 18 on.
    for (const node of model.graph.node) {
      const axes = node.opType.startsWith('Reduce') ? node.attribute.find((a) => a.name === 'axes') : undefined;
      if (!axes) continue;
      const name = `${node.output[0]}/axes`;
      model.graph.initializer.push(makeTensor(name, DataType.INT64, axes.ints.map(Number)));
      node.input.push(name);
      node.attribute = node.attribute.filter((a) => a !== axes);
    }
    model.proto.opsetImport.find((o) => o.domain === '')!.version = 21n;
    model.proto.irVersion = 10n;
    writeFileSync(join(dir, 'transformer/model.onnx'), serializeModel(model));
    const report = await importExport(dir, { output: join(root, 'bundle-opset21') });
    expect(report.analysis.opset).toBe(21);
    expect(report.verify?.passed).toBe(true);
  });

  it('Cos and Sin written once per use (an exporter without common-subexpression elimination): each is scaled, DyPE still equals torch', async () => {
    const name = 'bfl-opset17-fp32';
    const dir = await exportFolder(name);
    const model = readModel(join(dir, 'transformer/model.onnx'));
    let cloned = 0;
    for (const trig of model.graph.node.filter((n) => n.opType === 'Cos' || n.opType === 'Sin')) {
      const users = model.graph.node.filter((n) => n.input.includes(trig.output[0]));
      if (users.length < 2) continue; // the timestep/guidance sinusoids
      const copy = makeNode(trig.opType, trig.input, [`${trig.output[0]}/again`], {}, { name: `${trig.name}_again` });
      users[1].input = users[1].input.map((i) => (i === trig.output[0] ? copy.output[0] : i));
      model.graph.node.splice(model.graph.node.indexOf(trig) + 1, 0, copy);
      cloned++;
    }
    expect(cloned).toBe(6); // a Cos and a Sin for each of the three axes
    writeFileSync(join(dir, 'transformer/model.onnx'), serializeModel(model));
    const output = join(root, 'bundle-trig-twice');
    const report = await importExport(dir, { output });
    expect(report.verify?.dype?.passed).toBe(true);
    const imported = await run(join(output, 'transformer/model.onnx'), 'bfl', references.rope.bfl);
    expect(maxAbsDiff(imported, references.fixtures[name].dype)).toBeLessThan(TORCH_TOLERANCE.float32);
  });

  it('ids of a type the pipeline cannot feed are refused, naming the input, its type and what to do', async () => {
    const dir = await exportFolder('diffusers-opset17-fp32');
    const model = readModel(join(dir, 'transformer/model.onnx'));
    setElemType(model.graph.input.find((i) => i.name === 'txt_ids')!, DataType.UINT8);
    writeFileSync(join(dir, 'transformer/model.onnx'), serializeModel(model));
    await expect(importExport(dir, { output: join(root, 'bundle-uint8') })).rejects.toThrow(
      /input txt_ids has element type uint8; the pipeline feeds float32, float16, float64, int64, int32 .* Re-export the transformer with txt_ids as one of those types/,
    );
  });
});

/**
 * Rewrites one of the optimum fixture's models to the I/O BFL's exporter gives it: int32 input_ids,
 * BFL's output names, and for the VAE the input `latent` unscaled inside the graph (AE.decode).
 */
function withBflIo(src: string, dst: string, io: { outputs: Record<string, string>; int32Ids?: boolean; unscale?: { input: string; scale: number; shift: number } }): void {
  const model = readModel(src);
  const g = model.graph;
  for (const [from, to] of Object.entries(io.outputs)) {
    for (const node of g.node) node.output = node.output.map((o) => (o === from ? to : o));
    renameUses(g, from, to);
    g.output.find((o) => o.name === from)!.name = to;
  }
  const prelude = [];
  if (io.int32Ids) {
    renameUses(g, 'input_ids', 'input_ids/int64');
    setElemType(g.input.find((i) => i.name === 'input_ids')!, DataType.INT32);
    prelude.push(makeNode('Cast', ['input_ids'], ['input_ids/int64'], { to: DataType.INT64 }));
  }
  if (io.unscale) {
    const input = g.input.find((i) => i.name === io.unscale!.input)!;
    input.name = 'latent';
    g.initializer.push(makeTensor('ae.scale_factor', DataType.FLOAT, [io.unscale.scale], []), makeTensor('ae.shift_factor', DataType.FLOAT, [io.unscale.shift], []));
    prelude.push(makeNode('Div', ['latent', 'ae.scale_factor'], ['latent/unscaled']), makeNode('Add', ['latent/unscaled', 'ae.shift_factor'], [io.unscale.input]));
  }
  g.node = [...prelude, ...g.node];
  mkdirSync(dirname(dst), { recursive: true });
  writeFileSync(dst, serializeModel(model));
}

describe("BFL's folder layout", () => {
  /** BFL's layout around the BFL fixture: clip.opt, t5.opt, transformer.opt (a local export: no precision folder), vae.opt, plus tokenizers. */
  async function bflLayout(name: string): Promise<string> {
    const optimum = await exportFolder('bfl-opset17-fp32');
    const dir = join(root, name);
    cpSync(join(FIXTURES, 'bfl-opset17-fp32'), join(dir, 'transformer.opt'), { recursive: true });
    withBflIo(join(optimum, 'text_encoder/model.onnx'), join(dir, 'clip.opt/model.onnx'), { outputs: { last_hidden_state: 'text_embeddings', pooler_output: 'pooled_embeddings' }, int32Ids: true });
    withBflIo(join(optimum, 'text_encoder_2/model.onnx'), join(dir, 't5.opt/model.onnx'), { outputs: { last_hidden_state: 'text_embeddings' }, int32Ids: true });
    // The fixture's vae_decoder/config.json says scaling 0.5, shift 0.1: BFL's AE.decode applies them itself.
    withBflIo(join(optimum, 'vae_decoder/model.onnx'), join(dir, 'vae.opt/model.onnx'), { outputs: { sample: 'images' }, unscale: { input: 'latent_sample', scale: 0.5, shift: 0.1 } });
    for (const folder of ['tokenizer', 'tokenizer_2']) cpSync(join(optimum, folder), join(dir, folder), { recursive: true });
    return dir;
  }

  it('imports, and generates the same image as the optimum-layout import of the same models', async () => {
    const dir = await bflLayout('bfl-layout');
    const report = await importExport(dir, { output: join(root, 'bundle-bfl-layout') });
    expect(report.verify?.passed).toBe(true);
    expect(report.config.vae).toMatchObject({ scalingFactor: 1, shiftFactor: 0, scaleFactorPx: 32 });
    const request = { prompt: 'a lighthouse at dusk', width: 128, height: 128, seed: 9, steps: 2, method: 'dy-yarn' } as const;
    const images = [];
    for (const bundle of ['bundle-bfl-layout', 'bundle-bfl-opset17-fp32']) {
      const pipeline = await loadPipeline(join(root, bundle), { device: 'cpu' });
      try {
        images.push(await sharp((await pipeline.generate(request)).image).raw().toBuffer());
      } finally {
        await pipeline.dispose();
      }
    }
    expect(maxAbsDiff(images[0], images[1])).toBeLessThanOrEqual(1);
  });

  it('picks a runnable precision folder, and refuses TensorRT-only variants naming the one that works', async () => {
    const dir = await bflLayout('bfl-precisions');
    const transformer = join(dir, 'transformer.opt');
    mkdirSync(join(transformer, 'fp8'));
    mkdirSync(join(transformer, 'fp4'));
    for (const file of readdirSync(transformer)) if (!['fp8', 'fp4'].includes(file)) rmSync(join(transformer, file));
    writeFileSync(join(transformer, 'fp8/model.onnx'), '');
    writeFileSync(join(transformer, 'fp4/model.onnx'), '');
    await expect(importExport(dir, { output: join(root, 'bundle-fp8') })).rejects.toThrow(
      /has only transformer\.opt\/fp4, transformer\.opt\/fp8 for transformer\.opt: FP8\/FP4 quantized graphs that only TensorRT runs.*Download transformer\.opt\/bf16/,
    );
    cpSync(join(FIXTURES, 'bfl-opset17-fp32'), join(transformer, 'fp32'), { recursive: true });
    const report = await importExport(dir, { output: join(root, 'bundle-fp32-folder'), verify: false });
    expect(report.analysis.path).toBe(join(transformer, 'fp32/model.onnx'));
  });

  it('a quantized transformer graph is refused as TensorRT-only, naming the tensor and the variant to use', async () => {
    const dir = await bflLayout('bfl-fp8-graph');
    const path = join(dir, 'transformer.opt/model.onnx');
    const model = readModel(path);
    model.graph.initializer.push(makeTensor('w_fp8', DataType.FLOAT, [0.5, 1]));
    model.graph.initializer.at(-1)!.dataType = DataType.FLOAT8E4M3FN;
    writeFileSync(path, serializeModel(model));
    await expect(importExport(dir, { output: join(root, 'bundle-fp8-graph') })).rejects.toThrow(/is a TensorRT-only variant \(initializer w_fp8 is float8e4m3fn\).*Use the bf16 variant \(transformer\.opt\/bf16/);
  });

  it('missing parts and tokenizers are named, with where such files come from', async () => {
    const dir = await bflLayout('bfl-missing');
    rmSync(join(dir, 'vae.opt'), { recursive: true });
    await expect(importExport(dir, { output: join(root, 'bundle-missing') })).rejects.toThrow(/lacks vae\.opt\/model\.onnx\. BFL's FLUX\.1-dev-onnx and FLUX\.1-schnell-onnx repositories hold/);
    const noTokenizers = await bflLayout('bfl-no-tokenizers');
    rmSync(join(noTokenizers, 'tokenizer_2'), { recursive: true });
    await expect(importExport(noTokenizers, { output: join(root, 'bundle-no-tok') })).rejects.toMatchObject({
      code: 'tokenizer_missing',
      message: expect.stringMatching(/has no tokenizer_2\/ folder: BFL's ONNX repositories ship no tokenizers\. Copy .* from black-forest-labs\/FLUX\.1-dev or FLUX\.1-schnell/),
    });
  });
});
