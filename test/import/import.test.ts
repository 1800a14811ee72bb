// `dype import` end to end: miniature optimum-layout exports → bundles the normal pipeline runs.
import sharp from 'sharp';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wrapBfloat16Boundary } from '../../runtime/import/boundary.ts';
import { readGraphIo } from '../../runtime/import/files.ts';
import { DataType, dtypeName, elemType, externalLocations, readModel, renameExternalLocations, serializeModel, writeFileAtomic } from '../../runtime/import/graph.ts';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { ImportError, importExport, formatImportReport, type ImportReport } from '../../runtime/import/index.ts';
import { BundleConfigSchema } from '../../runtime/pipeline/bundle-config.ts';
import { loadPipeline } from '../../runtime/pipeline/index.ts';
import { writeExportFixture, type ExportFixtureOptions } from './fixtures/export.ts';
import { maxAbs, maxAbsDiff, positions, roundBfloat16, runTransformer, tempRoot, writeFixtureTransformer } from './fixtures/run.ts';

const { root, cleanup } = tempRoot('dype-import-e2e-');
afterAll(cleanup);

let counter = 0;
async function importFixture(options: ExportFixtureOptions = {}, importOptions: Partial<Parameters<typeof importExport>[1]> = {}) {
  const exportDir = await writeExportFixture(join(root, `flux-mini-${counter}`), options);
  const output = join(root, `bundle-${counter++}`);
  const report = await importExport(exportDir, { output, ...importOptions });
  return { exportDir, output, report };
}

const ioTypes = (path: string) => {
  const io = readGraphIo(path);
  return Object.fromEntries([...io.inputs, ...io.outputs].map((v) => [v.name, dtypeName(elemType(v))]));
};

describe('import of a FLUX.1-dev-style export', () => {
  let dev: { exportDir: string; output: string; report: ImportReport };
  beforeAll(async () => {
    dev = await importFixture();
  });

  it('succeeds, verifies, and says what it did', () => {
    const r = dev.report;
    expect(r.variant).toBe('dev');
    expect(r.verify?.passed).toBe(true);
    expect(r.verify?.maxAbsDiff).toBe(0); // float32 ω: the imported graph computes exactly the same
    expect(r.rope.axesDim).toEqual([4, 14, 14]);
    expect(r.warnings).toEqual([]);
    const text = formatImportReport(r);
    expect(text).toContain('self-check   passed');
    expect(text).toContain('CLIP from vocab.json + merges.txt');
  });

  it('writes the bundle layout with dype.json from the export configs', () => {
    for (const rel of ['dype.json', 'model_index.json', 'scheduler/scheduler_config.json', 'transformer/model.onnx', 'transformer/model.onnx_data', 'transformer/config.json', 'text_encoder/model.onnx', 'text_encoder_2/model.onnx', 'vae_decoder/model.onnx', 'tokenizer/tokenizer.json', 'tokenizer/tokenizer_config.json', 'tokenizer_2/tokenizer.json']) {
      expect(existsSync(join(dev.output, rel)), rel).toBe(true);
    }
    expect(readdirSync(root).some((f) => f.includes('.partial-'))).toBe(false);
    const config = BundleConfigSchema.parse(JSON.parse(readFileSync(join(dev.output, 'dype.json'), 'utf8')));
    expect(config).toMatchObject({
      demo: false,
      nativeResolution: 1024, // vae sample_size
      patchSize: 2, // √(in_channels 16 / latent_channels 4)
      pixelsPerToken: 64, // 2 × 2^(6 blocks − 1)
      latentChannels: 4,
      vae: { scaleFactorPx: 32, scalingFactor: 0.5, shiftFactor: 0.1 },
      rope: { axesDim: [4, 14, 14], theta: 10000, inputs: 'omega' },
      text: { clipMaxLength: 77, t5MaxLength: 512 },
      defaults: { steps: 28, guidance: 3.5 },
    });
  });

  it('hard-links the weights and rewrites only the transformer graph', () => {
    const ino = (p: string) => statSync(p).ino;
    expect(ino(join(dev.output, 'transformer/model.onnx_data'))).toBe(ino(join(dev.exportDir, 'transformer/model.onnx_data')));
    expect(ino(join(dev.output, 'vae_decoder/model.onnx'))).toBe(ino(join(dev.exportDir, 'vae_decoder/model.onnx')));
    expect(ino(join(dev.output, 'transformer/model.onnx'))).not.toBe(ino(join(dev.exportDir, 'transformer/model.onnx')));
    expect(dev.report.files.copied).toBe(0);
    const io = ioTypes(join(dev.output, 'transformer/model.onnx'));
    expect(io).toMatchObject({ rope_omega: 'float32', rope_mscale: 'float32', img_ids: 'float32', guidance: 'float32' });
  });

  it('generates images through the normal pipeline, native and at 2× with DyPE', async () => {
    const pipeline = await loadPipeline(dev.output, { device: 'cpu' });
    try {
      expect(pipeline.info.ropeInputs).toBe('omega');
      expect(pipeline.info.guidanceEmbeds).toBe(true);
      for (const [width, height, method] of [[512, 256, 'base'], [2048, 1024, 'dy-yarn']] as const) {
        const result = await pipeline.generate({ prompt: 'a photo of a cat', width, height, seed: 3, steps: 2, method });
        const meta = await sharp(result.image).metadata();
        expect([meta.width, meta.height]).toEqual([width, height]);
      }
    } finally {
      await pipeline.dispose();
    }
  });

  it('refuses an existing bundle folder unless forced', async () => {
    await expect(importExport(dev.exportDir, { output: dev.output, verify: false })).rejects.toMatchObject({ code: 'bundle_exists' });
    await expect(importExport(dev.exportDir, { output: join(dev.exportDir, 'bundle') })).rejects.toMatchObject({ code: 'bundle_exists' });
    const again = await importExport(dev.exportDir, { output: dev.output, force: true, verify: false, copy: true });
    expect(again.verify).toBeNull();
    expect(again.files.linked).toBe(0);
    expect(statSync(join(dev.output, 'transformer/model.onnx_data')).ino).not.toBe(statSync(join(dev.exportDir, 'transformer/model.onnx_data')).ino);
  });
});

describe('variants', () => {
  it('schnell: no guidance input → T5 256 tokens, 4 steps, no guidance; scheduler kept', async () => {
    const { output, report } = await importFixture({ guidance: false, outer: 'mul', interleave: 'expand' });
    expect(report.variant).toBe('schnell');
    expect(report.config.text.t5MaxLength).toBe(256);
    expect(report.config.defaults).toEqual({ steps: 4, guidance: null });
    expect(JSON.parse(readFileSync(join(output, 'scheduler/scheduler_config.json'), 'utf8'))).toMatchObject({ use_dynamic_shifting: false, shift: 1 });
    const pipeline = await loadPipeline(output, { device: 'cpu' });
    try {
      expect(pipeline.info.guidanceEmbeds).toBe(false);
      await pipeline.generate({ prompt: 'red sky', width: 256, height: 256, seed: 1, steps: 1 });
    } finally {
      await pipeline.dispose();
    }
  });

  it('a missing scheduler config gets FLUX defaults, reported as such; a disagreeing one is a warning', async () => {
    const { output, report } = await importFixture({ scheduler: false, freqDtype: 'float64', castAfterInterleave: true });
    expect(report.defaultsUsed.some((d) => d.startsWith('scheduler'))).toBe(true);
    expect(JSON.parse(readFileSync(join(output, 'scheduler/scheduler_config.json'), 'utf8'))).toMatchObject({ use_dynamic_shifting: true, max_shift: 1.15 });
    expect(report.verify!.maxAbsDiff).toBeGreaterThan(0); // float64 ω fed through float32
    expect(report.verify!.passed).toBe(true);

    const exportDir = await writeExportFixture(join(root, `flux-mini-${counter}`), {});
    await writeFile(join(exportDir, 'scheduler/scheduler_config.json'), JSON.stringify({ use_dynamic_shifting: false, shift: 1 }));
    const odd = await importExport(exportDir, { output: join(root, `bundle-${counter++}`), verify: false });
    expect(odd.variant).toBe('dev');
    expect(odd.warnings.join('\n')).toMatch(/scheduler .* disagrees with the transformer/);
  });

  it('float16 graphs stay float16', async () => {
    const { output, report } = await importFixture({ io: 'float16' });
    expect(report.verify?.passed).toBe(true);
    expect(report.bfloat16Wrapped).toEqual({});
    expect(ioTypes(join(output, 'transformer/model.onnx'))).toMatchObject({ hidden_states: 'float16', out_hidden_states: 'float16', rope_omega: 'float32' });
  });

  it('bfloat16 inputs/outputs are wrapped with Casts, and the bundle runs', async () => {
    const { output, report } = await importFixture({ io: 'bfloat16', guidance: false });
    expect(report.bfloat16Wrapped.transformer).toEqual(['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep', 'img_ids', 'txt_ids', 'out_hidden_states']);
    expect(report.verify?.passed).toBe(true);
    expect(Object.values(ioTypes(join(output, 'transformer/model.onnx')))).toEqual(new Array(9).fill('float32'));
    const pipeline = await loadPipeline(output, { device: 'cpu' });
    try {
      await pipeline.generate({ prompt: 'red sky', width: 256, height: 256, seed: 1, steps: 1 });
    } finally {
      await pipeline.dispose();
    }
  });

  it('an export without a findable RoPE fails, naming the candidates, and leaves no bundle', async () => {
    const exportDir = await writeExportFixture(join(root, `flux-mini-${counter}`), { rope: 'absent' });
    const output = join(root, `bundle-${counter++}`);
    const error = await importExport(exportDir, { output }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportError);
    expect((error as ImportError).code).toBe('rope_not_found');
    expect((error as ImportError).message).toContain('time_proj.cos/Cos (Cos) ← from timestep');
    expect(existsSync(output)).toBe(false);
    expect(readdirSync(root).some((f) => f.includes('.partial-'))).toBe(false);
  });

  it('external data outside the transformer folder is linked in under its own name, locations rewritten', async () => {
    const exportDir = await writeExportFixture(join(root, `flux-mini-${counter}`), {});
    await mkdir(join(exportDir, 'weights'));
    await rename(join(exportDir, 'transformer/model.onnx_data'), join(exportDir, 'weights/flux.bin'));
    const model = readModel(join(exportDir, 'transformer/model.onnx'));
    renameExternalLocations(model.graph, new Map([['model.onnx_data', '../weights/flux.bin']]));
    await writeFileAtomic(join(exportDir, 'transformer/model.onnx'), serializeModel(model));
    const output = join(root, `bundle-${counter++}`);
    const report = await importExport(exportDir, { output });
    expect(report.verify?.passed).toBe(true);
    expect(externalLocations(readModel(join(output, 'transformer/model.onnx')).graph)).toEqual(['flux.bin']);
    expect(statSync(join(output, 'transformer/flux.bin')).ino).toBe(statSync(join(exportDir, 'weights/flux.bin')).ino);
  });

  it('models the pipeline cannot feed are refused up front', async () => {
    const exportDir = await writeExportFixture(join(root, `flux-mini-${counter}`), {});
    const b = new GraphBuilder('clip_with_mask');
    b.input('input_ids', 'int64', [1, 77]);
    b.input('attention_mask', 'int64', [1, 77]);
    b.op('Cast', ['input_ids'], { to: DataType.FLOAT }, { outputs: ['pooler_output'] });
    b.output('pooler_output', 'float32', [1, 77]);
    await writeFile(join(exportDir, 'text_encoder/model.onnx'), b.serialize().model);
    await expect(importExport(exportDir, { output: join(root, `bundle-${counter++}`) })).rejects.toThrow(/text_encoder\/model\.onnx must take exactly input_ids \(it takes input_ids, attention_mask\)/);
  });

  it('an incomplete export names what is missing', async () => {
    const dir = join(root, `broken-${counter++}`);
    await mkdir(join(dir, 'transformer'), { recursive: true });
    await expect(importExport(dir, { output: join(root, `bundle-${counter++}`) })).rejects.toThrow(/missing transformer\/model\.onnx, text_encoder\/model\.onnx, text_encoder_2\/model\.onnx, vae_decoder\/model\.onnx/);
  });
});

describe('bfloat16 boundary', () => {
  it('the wrapped graph computes the float32 graph on bfloat16-rounded values', async () => {
    const bf16 = readModel(await writeFixtureTransformer(join(root, `bf${counter}`), { io: 'bfloat16' }));
    expect(wrapBfloat16Boundary(bf16)).toContain('out_hidden_states');
    expect(bf16.graph.input.every((i) => elemType(i) === DataType.FLOAT)).toBe(true);
    const wrapped = join(root, `bf${counter}`, 'wrapped.onnx');
    await writeFileAtomic(wrapped, serializeModel(bf16));
    const f32 = await writeFixtureTransformer(join(root, `f32${counter++}`), {});
    // Same weights; the float32 graph gets the inputs rounded to bfloat16 as the wrapper's Casts do.
    const input = { imgIds: positions([0, 1, 2], [0, 1, 2]), textTokens: 3 };
    const a = await runTransformer(wrapped, input);
    const b = roundBfloat16(await runTransformer(f32, { ...input, round: roundBfloat16 }));
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(2 ** -8 * maxAbs(b));
  });
});
