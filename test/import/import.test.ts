// `dype import` end to end: miniature optimum-layout exports → bundles the normal pipeline runs.
import sharp from 'sharp';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wrapBfloat16Boundary } from '../../runtime/import/boundary.ts';
import { readGraphIo } from '../../runtime/import/files.ts';
import { writeFileAtomic } from '../../runtime/files/atomic.ts';
import { externalLocations, readModel, renameExternalLocations, serializeModel } from '../../runtime/onnx/graph.ts';
import { DataType, dtypeName, elemType } from '../../runtime/onnx/proto.ts';
import { DEMO_DIMS } from '../../runtime/demo/index.ts';
import { buildTransformer } from '../../runtime/demo/transformer.ts';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { ImportError, importExport, formatImportReport, type ImportReport } from '../../runtime/import/index.ts';
import { BundleConfigSchema } from '../../runtime/bundle/config.ts';
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
    expect(r.verify?.native.maxAbsDiff).toBe(0); // float32 ω: the imported graph computes exactly the same
    expect(r.verify?.dype?.passed).toBe(true); // …and equals the original built with distinct per-axis ω/mscale
    expect(r.verify!.dype!.maxAbsRef).toBeGreaterThan(0);
    expect(r.rope.axesDim).toEqual([4, 14, 14]);
    expect(r.warnings).toEqual([]);
    const text = formatImportReport(r);
    expect(text).toContain('self-check   passed');
    expect(text).toMatch(/native RoPE: max \|Δ\| 0\.00e\+0/);
    expect(text).toMatch(/distinct per-axis ω, mscale ≠ 1: max \|Δ\| \d/);
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
      vae: { scaleFactorPx: 32, scalingFactor: 0.5, shiftFactor: 0.1, encoder: true }, // optimum's vae_encoder/ carried
      rope: { axesDim: [4, 14, 14], theta: 10000, inputs: 'omega' },
      text: { clipMaxLength: 77, t5MaxLength: 512 },
      defaults: { steps: 28, guidance: 3.5 },
    });
  });

  it('hard-links the weights and rewrites only the transformer graph', () => {
    const ino = (p: string) => statSync(p).ino;
    expect(ino(join(dev.output, 'transformer/model.onnx_data'))).toBe(ino(join(dev.exportDir, 'transformer/model.onnx_data')));
    expect(ino(join(dev.output, 'vae_decoder/model.onnx'))).toBe(ino(join(dev.exportDir, 'vae_decoder/model.onnx')));
    expect(ino(join(dev.output, 'vae_encoder/model.onnx'))).toBe(ino(join(dev.exportDir, 'vae_encoder/model.onnx')));
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

  it('carries optimum\'s vae_encoder/: image-to-image at strength 0 gives back the init', async () => {
    const pipeline = await loadPipeline(dev.output, { device: 'cpu' });
    try {
      expect(pipeline.info.imageToImage).toBe(true);
      const px = Buffer.alloc(512 * 256 * 3);
      for (let y = 0; y < 256; y++) for (let x = 0; x < 512; x++) for (let k = 0; k < 3; k++) px[(y * 512 + x) * 3 + k] = 128 + Math.round(60 * Math.sin((x + y + 90 * k) / 120));
      const init = await sharp(px, { raw: { width: 512, height: 256, channels: 3 } }).png().toBuffer();
      const result = await pipeline.generate({ prompt: 'x', width: 512, height: 256, seed: 3, steps: 2, init: { bytes: init, id: 'x' }, strength: 0 });
      const out = await sharp(result.image).raw().toBuffer();
      // the fixture's VAE is the demo's analytic pair, so its round trip is close (scaling and shift undone exactly)
      expect(out.reduce((s, v, i) => s + Math.abs(v - px[i]), 0) / out.length).toBeLessThan(3);
    } finally {
      await pipeline.dispose();
    }
  });

  it('an export without vae_encoder/ imports for text-to-image only, and says so', async () => {
    const { output, report } = await importFixture({ vaeEncoder: false }, { verify: false });
    expect(report.warnings.join('\n')).toMatch(/no vae_encoder/);
    expect(report.config.vae.encoder).toBe(false);
    expect(existsSync(join(output, 'vae_encoder'))).toBe(false);
    const pipeline = await loadPipeline(output, { device: 'cpu' });
    try {
      expect(pipeline.info.imageToImage).toBe(false);
      await expect(pipeline.generate({ prompt: 'x', width: 64, height: 64, seed: 1, init: { bytes: new Uint8Array(1), id: 'x' } })).rejects.toThrow(/no VAE encoder/);
    } finally {
      await pipeline.dispose();
    }
  });

  it('--force replaces only a bundle: never another non-empty folder, a file, or a bundle holding the export', async () => {
    const documents = join(root, 'Documents');
    await mkdir(join(documents, 'letters'), { recursive: true });
    await writeFile(join(documents, 'letters/thesis.txt'), 'precious');
    const refused = async (output: string, exportDir = dev.exportDir) => {
      const error = await importExport(exportDir, { output, force: true, verify: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImportError);
      expect((error as ImportError).code).toBe('bundle_exists');
      return (error as ImportError).message;
    };
    expect(await refused(documents)).toMatch(/Documents is not empty and is not a dype bundle .*refusing to replace it, even with --force/);
    await writeFile(join(documents, 'dype.json'), JSON.stringify({ format: 'something-else' }));
    expect(await refused(documents)).toMatch(/is not a dype bundle/);
    expect(readFileSync(join(documents, 'letters/thesis.txt'), 'utf8')).toBe('precious');
    expect(readdirSync(documents).sort()).toEqual(['dype.json', 'letters']);

    await writeFile(join(root, 'a-file'), 'x');
    expect(await refused(join(root, 'a-file'))).toMatch(/exists and is not a folder/);
    expect(readFileSync(join(root, 'a-file'), 'utf8')).toBe('x');

    const { output } = await importFixture({}, { verify: false });
    const inner = await writeExportFixture(join(output, 'export'), {});
    expect(await refused(output, inner)).toMatch(/lies inside the bundle/);
    expect(existsSync(join(inner, 'transformer/model.onnx'))).toBe(true);
    expect(readdirSync(root).some((f) => f.includes('.partial-') || f.includes('.old-'))).toBe(false);
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
    expect(report.config.defaults).toEqual({ steps: 4, guidance: null, dypeScale: 2, dypeExponent: 2 });
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
    expect(report.verify!.native.maxAbsDiff).toBeGreaterThan(0); // float64 ω fed through float32
    expect(report.verify!.passed).toBe(true);
    expect(report.verify!.dype?.passed).toBe(true);

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

  it('models the pipeline cannot feed are refused up front, by the pipeline\'s own contract check', async () => {
    const exportDir = await writeExportFixture(join(root, `flux-mini-${counter}`), {});
    const clip = new GraphBuilder('clip_without_pooler');
    clip.input('input_ids', 'int64', [1, 77]);
    clip.op('Cast', ['input_ids'], { to: DataType.FLOAT }, { outputs: ['last_hidden_state'] });
    clip.output('last_hidden_state', 'float32', [1, 77]);
    await writeFile(join(exportDir, 'text_encoder/model.onnx'), clip.serialize().model);
    const output = join(root, `bundle-${counter++}`);
    await expect(importExport(exportDir, { output })).rejects.toThrow(/cannot become a DyPE bundle: text_encoder must output pooler_output/);

    const other = await writeExportFixture(join(root, `flux-mini-${counter}`), {});
    const t = new GraphBuilder('controlnet_transformer');
    for (const name of ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep', 'img_ids', 'txt_ids', 'controlnet_cond']) t.input(name, 'float32', [1, 4]);
    t.op('Identity', ['hidden_states'], {}, { outputs: ['out_hidden_states'] });
    t.output('out_hidden_states', 'float32', [1, 4]);
    await writeFile(join(other, 'transformer/model.onnx'), t.serialize().model);
    await expect(importExport(other, { output: join(root, `bundle-${counter++}`) })).rejects.toThrow(/has inputs the pipeline cannot feed: controlnet_cond/);
    expect(existsSync(output)).toBe(false);
  });

  it.each(['tables', 'omega'] as const)('an export that already takes its RoPE as inputs (%s): dype.json says which, and the pipeline runs it', async (ropeInputs) => {
    const exportDir = await writeExportFixture(join(root, `flux-mini-${counter}`), {});
    const demo = buildTransformer(DEMO_DIMS, { ropeInputs, float16Io: false, guidance: true, seed: 5 });
    await writeFile(join(exportDir, 'transformer/model.onnx_data'), demo.externalData!);
    await writeFile(join(exportDir, 'transformer/model.onnx'), demo.model);
    const output = join(root, `bundle-${counter++}`);
    const report = await importExport(exportDir, { output });
    expect(report.rope.status).toBe(ropeInputs === 'tables' ? 'tables' : 'dype-inputs');
    expect(report.verify).toMatchObject({ passed: true, dype: null });
    expect(JSON.parse(readFileSync(join(output, 'dype.json'), 'utf8')).rope.inputs).toBe(ropeInputs);
    expect(report.config.description).toContain(ropeInputs === 'tables' ? 'rope_cos/rope_sin' : 'rope_omega/rope_mscale');
    const pipeline = await loadPipeline(output, { device: 'cpu' });
    try {
      expect(pipeline.info.ropeInputs).toBe(ropeInputs);
      await pipeline.generate({ prompt: 'red sky', width: 256, height: 256, seed: 1, steps: 1 });
    } finally {
      await pipeline.dispose();
    }
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
