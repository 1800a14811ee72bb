// The converted Z-Image transformer against the torch reference (test/convert/reference-zimage/
// make_fixtures.py: Tongyi-MAI/Z-Image transformer.py, scheduler.py and pipeline.py at toy widths with
// the real head dim and RoPE axes, ComfyUI key names, bf16), fed as the pipeline feeds it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { recognise } from '../../runtime/convert/architectures.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../../runtime/convert/source.ts';
import { ZIMAGE_DEFAULTS as ZIMAGE_ROPE } from '../../runtime/bundle/zimage.ts';
import { buildZImageTransformer, deriveZImageConfig } from '../../runtime/convert/zimage.ts';
import { zimageIds } from '../../runtime/families/zimage.ts';
import { flowMatchSigmas, fluxRopeFrequencies } from '../../runtime/dype/index.ts';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { eulerStep } from '../../runtime/pipeline/denoise.ts';
import { maxAbsDiff, tempRoot } from './helpers/flux-fixtures.ts';
import { ShapeOnlySource } from './helpers/shape-source.ts';
import { convertZImage, runZImage, ZIMAGE_CHECKPOINT, ZIMAGE_FIXTURES, ZIMAGE_REFERENCE as REF } from './helpers/zimage-fixtures.ts';

const { root, cleanup } = tempRoot('dype-convert-zimage-');
afterAll(cleanup);

// The reference widens the stored bf16 weights to float32 and computes in float32, as the graph does.
const TOLERANCE = 1e-4;

const negated = (xs: readonly number[]) => xs.map((x) => -x);
/** Native RoPE as the pipeline computes it: runtime/dype's base method over Z-Image's axes and θ. */
const nativeRope = (grid = REF.cases.padded.grid) =>
  fluxRopeFrequencies(grid, REF.sigma, { method: 'base', dynamic: false, theta: ZIMAGE_ROPE.theta, axesDim: [...ZIMAGE_ROPE.axesDim] });

describe('Z-Image transformer conversion', () => {
  const converted = convertZImage(join(root, 'bf16'));

  it('derives the config from ComfyUI key names and shapes, and widens every bf16 weight', async () => {
    const { config, dtypes } = await converted;
    expect(config).toEqual({
      hidden: REF.config.hidden, heads: REF.config.heads, headDim: 128, mlpHidden: REF.config.mlpHidden, inChannels: 64, outChannels: 64,
      capDim: REF.config.capDim, timeDim: 256, timeHidden: REF.config.timeHidden, adalnDim: REF.config.adalnDim,
      blocks: { noise_refiner: REF.config.noiseRefiners, context_refiner: REF.config.contextRefiners, layers: REF.config.depth },
      axesDim: [32, 48, 48], theta: 256,
    });
    const header = await readSafetensorsHeader(ZIMAGE_CHECKPOINT);
    expect(dtypes.BF16?.tensors).toBe(header.tensors.size); // the graph reads every tensor of the file
  });

  // The velocity the pipeline steps with is the negated model output (ComfyUI's `return -img`,
  // Tongyi's `noise_pred = -noise_pred`): the graph's output is compared with −reference.
  it('equals the reference at native RoPE, with pad rows on both sequences (15 image, 5 caption tokens)', async () => {
    const { path, config } = await converted;
    const out = await runZImage(path, config, REF.cases.padded, REF.sigma, nativeRope());
    expect(maxAbsDiff(out, negated(REF.outputs.native))).toBeLessThan(TOLERANCE);
  });

  it('equals the reference at DyPE ω/mscale from runtime/dype (dy-yarn, image axes extrapolated)', async () => {
    const { path, config } = await converted;
    const { grid } = REF.cases.padded;
    const dype = fluxRopeFrequencies(grid, REF.sigma, REF.rope.dypeOptions);
    expect(maxAbsDiff(dype.omega, REF.rope.dype.omega)).toBeLessThan(1e-12); // the fixture was written from the same code
    // DyPE scales the row and column axes only: the caption axis (the first 16 frequencies) stays native.
    const native = nativeRope(grid);
    expect(maxAbsDiff(dype.omega.subarray(0, 16), native.omega.subarray(0, 16))).toBe(0);
    expect([...dype.mscale.subarray(0, 16)].every((m) => m === 1)).toBe(true);
    expect(maxAbsDiff(dype.omega.subarray(16), native.omega.subarray(16))).toBeGreaterThan(1e-3);
    const out = await runZImage(path, config, REF.cases.padded, REF.sigma, dype);
    expect(maxAbsDiff(out, negated(REF.outputs.dype))).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(REF.outputs.native, REF.outputs.dype)).toBeGreaterThan(100 * TOLERANCE);
  });

  it('reads each frequency from its own id column: distinct ω and mscale on all three axes', async () => {
    const { path, config } = await converted;
    const out = await runZImage(path, config, REF.cases.padded, REF.sigma, REF.rope.axes);
    expect(maxAbsDiff(out, negated(REF.outputs.axes))).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(REF.outputs.native, REF.outputs.axes)).toBeGreaterThan(100 * TOLERANCE);
  });

  it('adds no pad rows when both sequences are already multiples of 32', async () => {
    const { path, config } = await converted;
    const { grid } = REF.cases.aligned;
    expect((grid.height * grid.width) % 32).toBe(0);
    expect(grid.textTokens % 32).toBe(0);
    const out = await runZImage(path, config, REF.cases.aligned, REF.sigma, nativeRope(grid));
    expect(maxAbsDiff(out, negated(REF.outputs.aligned))).toBeLessThan(TOLERANCE);
  });

  it('one Euler step of the pipeline (t = 1 − σ fed, its schedule and step on the velocity) equals the reference sampler', async () => {
    const { path, config } = await converted;
    const c = REF.cases.padded;
    // Turbo: 8 steps, static shift 3 (Tongyi's scheduler with sigma_min 0; the pipeline's flowMatchSigmas).
    const sigmas = flowMatchSigmas(REF.euler.steps, c.grid.height * c.grid.width, { dynamic: false, shift: REF.euler.shift });
    expect(maxAbsDiff(sigmas, REF.euler.sigmas)).toBeLessThan(1e-6);
    const i = REF.euler.index;
    const velocity = await runZImage(path, config, c, sigmas[i], nativeRope());
    const next = eulerStep(Float32Array.from(c.latents), velocity, sigmas[i], sigmas[i + 1]);
    expect(maxAbsDiff(next, REF.euler.next)).toBeLessThan(TOLERANCE);
  });

  it('numbers positions as the model does: caption (1…L, 0, 0), image (padded L + 1, row, column)', () => {
    const { txtIds, imgIds } = zimageIds(5, 2, 3);
    expect([...txtIds]).toEqual([1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 5, 0, 0]);
    expect([...imgIds]).toEqual([33, 0, 0, 33, 0, 1, 33, 0, 2, 33, 1, 0, 33, 1, 1, 33, 1, 2]);
    expect(zimageIds(32, 1, 1).imgIds[0]).toBe(33);
    expect(zimageIds(33, 1, 1).imgIds[0]).toBe(65);
  });

  it('recognises ComfyUI’s diffusion-model file, also inside an all-in-one checkpoint', async () => {
    const keys = [...(await readSafetensorsHeader(ZIMAGE_CHECKPOINT)).tensors.keys()];
    expect(recognise(keys).map((r) => r.architecture.id)).toEqual(['zimage-transformer']);
    expect(recognise(keys.map((k) => `model.diffusion_model.${k}`))).toEqual([
      expect.objectContaining({ prefix: 'model.diffusion_model.', architecture: expect.objectContaining({ id: 'zimage-transformer', family: 'zimage', supported: true }) }),
    ]);
  });

  it('refuses an incomplete checkpoint or a foreign head dim, naming the file and the tensor', async () => {
    const header = await readSafetensorsHeader(ZIMAGE_CHECKPOINT);
    const derive = (tensors: typeof header.tensors) =>
      deriveZImageConfig(new SafetensorsWeightSource(new GraphBuilder('t'), [{ header: { ...header, tensors }, location: 'x' }], 'z_image_turbo_bf16.safetensors'));
    const without = (dropped: string) => new Map([...header.tensors].filter(([k]) => k !== dropped));
    expect(() => derive(without('cap_pad_token'))).toThrow(/z_image_turbo_bf16\.safetensors: tensor cap_pad_token is missing/);
    expect(() => derive(without('noise_refiner.0.adaLN_modulation.0.bias'))).toThrow(/tensor noise_refiner\.0\.adaLN_modulation\.0\.bias is missing/);
    const tensors = new Map(header.tensors);
    for (const key of ['layers.0.attention.q_norm.weight']) tensors.set(key, { ...tensors.get(key)!, shape: [64], byteLength: 128 });
    expect(() => derive(tensors)).toThrow(/tensor layers\.0\.attention\.q_norm\.weight has shape \[64\], expected \[128\]/);
  });
});

describe('Z-Image-Turbo at its published size', () => {
  // Key → shape of the published model (written by make_fixtures.py from src/config/model.py).
  const shapes = JSON.parse(readFileSync(join(ZIMAGE_FIXTURES, 'z-image-turbo-shapes.json'), 'utf8')) as Record<string, number[]>;

  it('gives the published config, and its graph (two layers at full width) passes onnxruntime’s type and shape checks', async () => {
    const full = deriveZImageConfig(new ShapeOnlySource('z_image_turbo_bf16', shapes, new GraphBuilder('t')));
    expect(full).toEqual({
      hidden: 3840, heads: 30, headDim: 128, mlpHidden: 10240, inChannels: 64, outChannels: 64, capDim: 2560, timeDim: 256, timeHidden: 1024,
      adalnDim: 256, blocks: { noise_refiner: 2, context_refiner: 2, layers: 30 }, axesDim: [32, 48, 48], theta: 256,
    });
    const twoLayers = Object.fromEntries(Object.entries(shapes).filter(([key]) => Number(/^layers\.(\d+)\./.exec(key)?.[1] ?? 0) < 2));
    const b = new GraphBuilder('transformer');
    const w = new ShapeOnlySource('z_image_turbo_bf16', twoLayers, b);
    buildZImageTransformer(b, w, deriveZImageConfig(w));
    const session = await ort.InferenceSession.create(b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
    try {
      expect(session.inputNames).toEqual(expect.arrayContaining(['hidden_states', 'encoder_hidden_states', 'timestep', 'img_ids', 'txt_ids', 'rope_omega', 'rope_mscale']));
      expect(session.inputNames).not.toContain('pooled_projections');
      expect(session.outputNames).toEqual(['out_hidden_states']);
    } finally {
      await session.release();
    }
  });
});
