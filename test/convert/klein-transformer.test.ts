// The converted FLUX.2 [klein] transformer against the torch reference (test/convert/reference-flux2/
// make_fixtures.py, BFL flux2 model.py at toy widths, bf16 BFL keys as in ComfyUI's file), at native
// RoPE and at DyPE's ω/mscale (runtime/dype: h and w scaled, t and the text axis native). Its text
// input is the reference Qwen3 encoder's output: what the encoder gives is what the transformer takes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recognise } from '../../runtime/convert/architectures.ts';
import { fluxRopeFrequencies } from '../../runtime/dype/index.ts';
import { buildFlux2Transformer, deriveFlux2Config, flux2Variant, type Flux2Config } from '../../runtime/convert/flux2.ts';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../../runtime/convert/source.ts';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { maxAbsDiff } from '../helpers/compare.ts';
import { convertedSession } from './helpers/converted.ts';
import { KLEIN_FIXTURES, KLEIN_REFERENCE, KLEIN_TRANSFORMER, kleinFeeds } from './helpers/klein-fixtures.ts';
import { ShapeOnlySource } from './helpers/shape-source.ts';

const TOLERANCE = 1e-4;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dype-flux2-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const reference = KLEIN_REFERENCE.transformer;
const checkpoint = KLEIN_TRANSFORMER;
async function run(session: ort.InferenceSession, c: Flux2Config, rope: 'native' | 'dype'): Promise<Float32Array> {
  const out = await session.run(kleinFeeds(c, rope));
  return out.out_hidden_states.data as Float32Array;
}

describe('FLUX.2 [klein] transformer conversion', () => {
  it.each([
    ['flux-2-klein-4b.safetensors', 'bf16'],
    ['flux-2-klein-4b-fp8mixed.safetensors', 'ComfyUI fp8mixed: e4m3fn block weights with weight_scale'],
  ])('%s (%s) equals the torch reference at native RoPE and at DyPE ω/mscale', async (file) => {
    let config: Flux2Config | undefined;
    const { session, conversions } = await convertedSession(root, join(KLEIN_FIXTURES, file), (g, w) => {
      config = deriveFlux2Config(w);
      buildFlux2Transformer(g, w, config);
    });
    const c = config!;
    expect(c).toMatchObject({ hidden: 32, heads: 2, headDim: 16, mlpHidden: 96, inChannels: 16, contextDim: 48, depth: 2, depthSingle: 2, guidance: false, axesDim: reference.config.axes, theta: reference.config.theta });
    expect(conversions.BF16?.cast).toBeGreaterThan(0);
    // Every block Linear of the fp8mixed file is e4m3fn and scaled: 2 × 2 × 4 double + 2 × 2 single.
    if (file.includes('fp8')) expect(conversions.F8_E4M3).toMatchObject({ tensors: 20, cast: 20, scaled: 20 });
    expect(session.inputNames).not.toContain('guidance');
    expect(session.inputNames).not.toContain('pooled_projections');
    // The encoder's output width is the transformer's text width.
    expect(c.contextDim).toBe(KLEIN_REFERENCE.qwen3.klein.shape[1]);
    const native = await run(session, c, 'native');
    const dype = await run(session, c, 'dype');
    expect(maxAbsDiff(native, reference.outputs[file].native)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(dype, reference.outputs[file].dype)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(native, dype)).toBeGreaterThan(100 * TOLERANCE);
    await session.release();
  });

  it("takes runtime/dype's 4-axis ω/mscale as they are: the reference's DyPE feed is fluxRopeFrequencies over (t, h, w, l)", () => {
    const { grid, config } = reference;
    const dype = fluxRopeFrequencies(grid, reference.t, { method: 'yarn', dynamic: true, baseLength: 1, theta: config.theta, axesDim: config.axes });
    expect([...dype.omega]).toEqual(reference.rope.dype.omega);
    expect([...dype.mscale]).toEqual(reference.rope.dype.mscale);
  });

  it('is recognised as FLUX.2, bare or under an all-in-one prefix, and never as FLUX.1', async () => {
    const header = await readSafetensorsHeader(checkpoint);
    const keys = [...header.tensors.keys()];
    expect(recognise(keys).map((r) => r.architecture.id)).toEqual(['flux2-transformer']);
    expect(recognise(keys.map((k) => `model.diffusion_model.${k}`))).toEqual([expect.objectContaining({ prefix: 'model.diffusion_model.' })]);
    // FLUX.2 [dev] has the same blocks and a guidance embedding: named, and not converted
    expect(recognise([...keys, 'guidance_in.in_layer.weight']).map((r) => [r.architecture.id, r.architecture.supported])).toEqual([['flux2-dev-transformer', false]]);
  });

  it('refuses a checkpoint with a missing or misshapen tensor, naming it', async () => {
    const header = await readSafetensorsHeader(checkpoint);
    const derive = (tensors: typeof header.tensors) => deriveFlux2Config(new SafetensorsWeightSource(new GraphBuilder('t'), [{ header: { ...header, tensors }, location: 'x' }], 'flux-2-klein-4b.safetensors'));
    const without = new Map([...header.tensors].filter(([k]) => k !== 'single_blocks.1.linear2.weight'));
    expect(() => derive(without)).toThrow(/flux-2-klein-4b\.safetensors: tensor single_blocks\.1\.linear2\.weight is missing/);
    const reshaped = new Map(header.tensors);
    const entry = reshaped.get('double_stream_modulation_txt.lin.weight')!;
    reshaped.set('double_stream_modulation_txt.lin.weight', { ...entry, shape: [entry.shape[0] / 2, entry.shape[1]] });
    expect(() => derive(reshaped)).toThrow(/double_stream_modulation_txt\.lin\.weight has shape \[96, 32\], expected \[192, 32\]/);
  });
});

describe('FLUX.2 variants', () => {
  it('names klein 4B (Apache-2.0) and klein 9B with its non-commercial licence, from the sizes of the full-size files', async () => {
    const shapes = JSON.parse((await import('node:fs')).readFileSync(join(KLEIN_FIXTURES, 'full-size-shapes.json'), 'utf8')) as { transformer: Record<string, number[]> };
    const source = new ShapeOnlySource('flux-2-klein-4b.safetensors', shapes.transformer, new GraphBuilder('shapes'));
    const klein4b = deriveFlux2Config(source);
    expect(klein4b).toMatchObject({ hidden: 3072, heads: 24, headDim: 128, mlpHidden: 9216, inChannels: 128, contextDim: 7680, depth: 5, depthSingle: 20, axesDim: [32, 32, 32, 32], theta: 2000 });
    expect(flux2Variant(klein4b)).toEqual({ name: 'FLUX.2 [klein] 4B', licence: 'Apache-2.0', commercial: true });
    expect(flux2Variant({ ...klein4b, hidden: 4096, contextDim: 12288, depth: 8, depthSingle: 24 })).toMatchObject({ name: 'FLUX.2 [klein] 9B', licence: 'FLUX Non-Commercial License', commercial: false });
    expect(flux2Variant({ hidden: 32, contextDim: 48, depth: 2, depthSingle: 2 })).toMatchObject({ licence: expect.stringMatching(/unknown/) });
  });
});
