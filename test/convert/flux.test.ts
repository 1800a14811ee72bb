// The converted FLUX.1 transformer against the torch reference (test/convert/reference-transformer/
// make_fixtures.py, BFL model.py/layers.py at toy widths): every stored dtype, BFL and diffusers keys,
// native RoPE and DyPE ω/mscale from runtime/dype.
import { copyFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { recognise } from '../../runtime/convert/architectures.ts';
import { buildFluxTransformer, deriveFluxConfig } from '../../runtime/convert/flux.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../../runtime/convert/source.ts';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { FLUX_FIXTURES, FLUX_REFERENCE, convertTransformer, maxAbsDiff, runOnReference, tempRoot } from './helpers/flux-fixtures.ts';
import { ShapeOnlySource } from './helpers/shape-source.ts';

const { root, cleanup } = tempRoot('dype-convert-flux-');
afterAll(cleanup);

// The reference widens each checkpoint's stored values to float32 and computes in float32, as the
// converted graph does after its Casts: every dtype is held to the float32 tolerance.
const TOLERANCE = 1e-4;

const SHARDS = ['diffusion_pytorch_model-00001-of-00002.safetensors', 'diffusion_pytorch_model-00002-of-00002.safetensors'].map((f) =>
  join(FLUX_FIXTURES, 'schnell-diffusers', 'transformer', f),
);

describe('FLUX.1 transformer conversion', () => {
  it.each([
    ['flux-dev-f32.safetensors', 'F32', 0],
    ['flux-dev-bf16.safetensors', 'BF16', 84],
    ['flux-dev-f16.safetensors', 'F16', 84],
    ['flux-dev-fp8.safetensors', 'F8_E4M3', 36],
  ] as const)('%s (BFL keys) equals the torch reference at native RoPE and DyPE ω/mscale', async (file, dtype, casts) => {
    const { path, config, dtypes } = await convertTransformer([join(FLUX_FIXTURES, file)], join(root, file), 'bfl');
    expect(config).toMatchObject({ naming: 'bfl', guidance: true, depth: 2, depthSingle: 2, hidden: 64, heads: 2, axesDim: FLUX_REFERENCE.config.axesDim });
    expect(dtypes[dtype]?.cast).toBe(casts);
    if (dtype === 'F8_E4M3') expect(dtypes.F8_E4M3?.scaled).toBe(2); // img_in and final_layer.linear carry .scale_weight
    const reference = FLUX_REFERENCE.outputs[file];
    const native = await runOnReference(path, config, 'native');
    const dype = await runOnReference(path, config, 'dype');
    expect(maxAbsDiff(native, reference.native)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(dype, reference.dype)).toBeLessThan(TOLERANCE);
    // DyPE's ω/mscale really change the output (the comparison above would otherwise be vacuous).
    expect(maxAbsDiff(native, dype)).toBeGreaterThan(100 * TOLERANCE);
  });

  it('widens bf16 once, at session creation: onnxruntime folds every Cast of a weight', async () => {
    const { path } = await convertTransformer([join(FLUX_FIXTURES, 'flux-dev-bf16.safetensors')], join(root, 'folded'), 'bfl');
    const optimized = join(root, 'folded', 'optimized.onnx');
    const session = await ort.InferenceSession.create(path, { optimizedModelFilePath: optimized, graphOptimizationLevel: 'basic' });
    await session.release();
    const castNodes = (file: string) => (readFileSync(file).toString('latin1').match(/\x22\x04Cast/g) ?? []).length; // NodeProto.op_type = "Cast"
    expect(castNodes(path)).toBe(84);
    expect(castNodes(optimized)).toBe(0);
  });

  it('reads diffusers keys from a sharded checkpoint (schnell: no guidance input, swapped norm_out halves)', async () => {
    const { path, config } = await convertTransformer(SHARDS, join(root, 'diffusers'), 'diffusers');
    expect(config).toMatchObject({ naming: 'diffusers', guidance: false, depth: 2, depthSingle: 2 });
    const reference = FLUX_REFERENCE.outputs['schnell-diffusers'];
    expect(maxAbsDiff(await runOnReference(path, config, 'native'), reference.native)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(await runOnReference(path, config, 'dype'), reference.dype)).toBeLessThan(TOLERANCE);
  });

  it('recognises both key namings, and dev vs schnell from guidance_in', async () => {
    const bfl = await readSafetensorsHeader(join(FLUX_FIXTURES, 'flux-dev-f32.safetensors'));
    expect(recognise(bfl.tensors.keys()).map((r) => r.architecture.id)).toEqual(['flux1-transformer-bfl']);
    const shardKeys = (await Promise.all(SHARDS.map(readSafetensorsHeader))).flatMap((h) => [...h.tensors.keys()]);
    expect(recognise(shardKeys).map((r) => r.architecture.id)).toEqual(['flux1-transformer-diffusers']);
    // An all-in-one file (ComfyUI) keeps the transformer under a prefix.
    expect(recognise([...bfl.tensors.keys()].map((k) => `model.diffusion_model.${k}`))).toEqual([
      expect.objectContaining({ prefix: 'model.diffusion_model.', architecture: expect.objectContaining({ id: 'flux1-transformer-bfl' }) }),
    ]);
  });

  it('refuses an incomplete checkpoint, naming the file and the missing tensor', async () => {
    const header = await readSafetensorsHeader(join(FLUX_FIXTURES, 'flux-dev-f32.safetensors'));
    const without = (dropped: string) => ({ ...header, tensors: new Map([...header.tensors].filter(([k]) => k !== dropped)) });
    const derive = (h: typeof header) => deriveFluxConfig(new SafetensorsWeightSource(new GraphBuilder('t'), [{ header: h, location: 'x' }], 'flux1-dev.safetensors'), 'bfl');
    expect(() => derive(without('single_blocks.1.linear2.bias'))).toThrow(/flux1-dev\.safetensors: tensor single_blocks\.1\.linear2\.bias is missing/);
    // A whole block gone in the middle: block 0 of the double blocks.
    const noBlock0 = { ...header, tensors: new Map([...header.tensors].filter(([k]) => !k.startsWith('double_blocks.0.'))) };
    expect(() => derive(noBlock0)).toThrow(/double_blocks\.0\./);
  });

  it('refuses a tensor of the wrong shape, naming it and the shape expected', async () => {
    const header = await readSafetensorsHeader(join(FLUX_FIXTURES, 'flux-dev-f32.safetensors'));
    const tensors = new Map(header.tensors);
    const bad = tensors.get('double_blocks.1.txt_mlp.2.weight')!;
    tensors.set(bad.key, { ...bad, shape: [64, 128], byteLength: 64 * 128 * 4 });
    const w = new SafetensorsWeightSource(new GraphBuilder('t'), [{ header: { ...header, tensors }, location: 'x' }], 'flux1-dev.safetensors');
    expect(() => deriveFluxConfig(w, 'bfl')).toThrow(/tensor double_blocks\.1\.txt_mlp\.2\.weight has shape \[64, 128\], expected \[64, 256\]/);
  });

  it('keeps weights out of the model: every initializer of a checkpoint is external data in it', async () => {
    const file = join(root, 'flux1-dev.safetensors');
    copyFileSync(join(FLUX_FIXTURES, 'flux-dev-f32.safetensors'), file);
    const { path } = await convertTransformer([file], join(root, 'external'), 'bfl');
    // 84 tensors, 1.9 MB of weights; the graph itself is a few tens of KB.
    expect(statSync(path).size).toBeLessThan(150_000);
    expect(statSync(join(root, 'external', 'flux1-dev.safetensors')).ino).toBe(statSync(file).ino);
  });
});

describe('FLUX.1-dev at its published size', () => {
  // Key → shape of BFL's flux-dev (written by make_fixtures.py from flux/util.py's config).
  const shapes = JSON.parse(readFileSync(join(FLUX_FIXTURES, 'flux1-dev-shapes.json'), 'utf8')) as Record<string, number[]>;

  it('a 23.8 GB checkpoint (sparse: header only) gives the published config and a graph of under 1 MB', async () => {
    const file = join(root, 'flux1-dev.safetensors');
    let offset = 0;
    const entries: Record<string, unknown> = {};
    for (const [key, shape] of Object.entries(shapes)) {
      const bytes = shape.reduce((a, b) => a * b, 1) * 2;
      entries[key] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
    const json = Buffer.from(JSON.stringify(entries));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(file, Buffer.concat([prefix, json]));
    truncateSync(file, 8 + json.length + offset); // a hole: no disk used, nothing read
    expect(offset).toBeGreaterThan(23.7e9);

    const header = await readSafetensorsHeader(file);
    const b = new GraphBuilder('transformer');
    const w = new SafetensorsWeightSource(b, [{ header, location: 'flux1-dev.safetensors' }], 'flux1-dev.safetensors');
    const config = deriveFluxConfig(w, 'bfl');
    expect(config).toEqual({
      naming: 'bfl', hidden: 3072, heads: 24, headDim: 128, mlpHidden: 12288, inChannels: 64, outChannels: 64, contextDim: 4096,
      vecDim: 768, timeDim: 256, depth: 19, depthSingle: 38, guidance: true, axesDim: [16, 56, 56], theta: 10000,
    });
    buildFluxTransformer(b, w, config);
    expect(b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model.length).toBeLessThan(1_000_000);
    expect(w.conversions.BF16).toMatchObject({ tensors: 780, cast: 780 });
  });

  it('its graph passes onnxruntime’s type and shape checks (weights as graph inputs, nothing allocated)', async () => {
    // Two blocks of each kind at full width: every op's shapes are checked as in all 19 + 38
    // (session creation grows faster than linearly with depth, which CI time cannot afford).
    const block = /^(double|single)_blocks\.(\d+)\./;
    const twoOfEach = Object.fromEntries(Object.entries(shapes).filter(([key]) => Number(block.exec(key)?.[2] ?? 0) < 2));
    const b = new GraphBuilder('transformer');
    const w = new ShapeOnlySource('flux1-dev', twoOfEach, b);
    const config = deriveFluxConfig(w, 'bfl');
    expect(config).toMatchObject({ hidden: 3072, heads: 24, depth: 2, depthSingle: 2 });
    buildFluxTransformer(b, w, config);
    const session = await ort.InferenceSession.create(b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
    try {
      expect(session.inputNames).toEqual(expect.arrayContaining(['hidden_states', 'guidance', 'rope_omega', 'rope_mscale']));
      expect(session.outputNames).toEqual(['out_hidden_states']);
    } finally {
      await session.release();
    }
  });
});
