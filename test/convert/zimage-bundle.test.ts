// Z-Image end to end: the files ComfyUI users have (z_image_turbo_bf16, qwen_3_4b, ae) as tiny
// checkpoints with the real key names → `dype convert` → a bundle that encodes prompts as the
// reference does and generates through the pipeline, the CLI and the companion, at 4096×2304 with
// DyPE. Two bundles: one with the reference AE (2 px per latent pixel, with its encoder: small images,
// Refine), one with a 32 px-per-latent-pixel AE decoder (large images at a few thousand tokens).
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZIMAGE_DEFAULTS } from '../../runtime/bundle/zimage.ts';
import { convertCheckpoints, ConvertError, type ConvertReport } from '../../runtime/convert/index.ts';
import { fluxRopeFrequencies } from '../../runtime/dype/index.ts';
import { ZIMAGE } from '../../runtime/families/index.ts';
import { loadPipeline, readBundle, type Pipeline } from '../../runtime/pipeline/index.ts';
import type { GenerateRequest } from '../../runtime/pipeline/types.ts';
import { createSession } from '../../runtime/pipeline/ort.ts';
import { PromptTokenizer, qwen3ChatText } from '../../runtime/pipeline/text.ts';
import { createCompanion } from '../../runtime/server/index.ts';
import { maxAbsDiff } from '../helpers/compare.ts';
import { Api, TOKEN } from '../server/helpers/companion.ts';
import { ENCODER_FIXTURES, tempRoot } from './helpers/flux-fixtures.ts';
import { KLEIN_FIXTURES } from './helpers/klein-fixtures.ts';
import { convertZImageBundle, writeZImageModels, ZIMAGE_CHECKPOINT, ZIMAGE_REFERENCE as REF } from './helpers/zimage-fixtures.ts';

const { root, cleanup } = tempRoot('dype-zimage-bundle-');
afterAll(cleanup);

let small = '';
let large = '';
let report: ConvertReport;

beforeAll(async () => {
  [{ bundle: small, report }, { bundle: large }] = await Promise.all([convertZImageBundle(join(root, 'small'), join(ENCODER_FIXTURES, 'ae.safetensors')), convertZImageBundle(join(root, 'large'))]);
});

describe('dype convert on Z-Image-Turbo’s ComfyUI files', () => {
  it('recognises the three files and writes a Z-Image bundle with the published constants', () => {
    expect(report.family).toBe('zimage');
    expect(report.components.map((c) => c.kind).sort()).toEqual(['qwen3', 'transformer', 'vae']);
    expect(report.model).toMatch(/Z-Image-Turbo: 1 noise \+ 1 context refiner blocks and 1 layers, width 256, 2 heads; Qwen3 text encoder with 28 layers \(hidden state -2\)/);
    const { config, shift, halfTransformer } = readBundle(small);
    expect(halfTransformer).toBe(join(small, 'transformer', 'model.fp16.onnx')); // the float16 twin GPU providers load
    expect(config).toMatchObject({
      family: 'zimage',
      rope: { axesDim: [32, 48, 48], theta: 256, inputs: 'omega' },
      text: { qwenMaxLength: 512 },
      defaults: { steps: 8, guidance: null },
      vae: { scalingFactor: 0.3611, shiftFactor: 0.1159, encoder: true },
      latentChannels: 16,
    });
    expect(shift).toMatchObject({ dynamic: false, shift: 3 });
    expect(report.defaultsUsed).toEqual([]);
  });

  it('encodes a prompt as the reference: the chat template without a think block, Qwen3’s hidden state −2, the prompt’s rows only', async () => {
    const bundle = readBundle(small);
    const tokenizer = PromptTokenizer.load(bundle.text.qwen.tokenizer);
    const masked = tokenizer.encodeMasked(qwen3ChatText(REF.text.prompt, { thinking: true }), ZIMAGE_DEFAULTS.qwenMaxLength);
    expect(Array.from(masked.ids.subarray(0, masked.length), Number)).toEqual(REF.text.inputIds);
    const session = await createSession(bundle.text.qwen.model, 'cpu');
    try {
      const encoded = await ZIMAGE.encodePrompt(REF.text.prompt, { qwen: { session, tokenizer, length: ZIMAGE_DEFAULTS.qwenMaxLength } }, () => {});
      expect(encoded.textTokens).toBe(REF.text.inputIds.length);
      const caption = encoded.feeds.encoder_hidden_states;
      expect(caption.dims).toEqual([1, REF.text.inputIds.length, REF.config.capDim]);
      expect(maxAbsDiff(caption.data as Float32Array, REF.text.caption)).toBeLessThan(1e-4);
    } finally {
      await session.release();
    }
  });

  it('refuses a FLUX.2 VAE named for a Z-Image transformer, skips one found in a folder, and names what is missing', async () => {
    const dir = join(root, 'models-wrong');
    writeZImageModels(dir, join(KLEIN_FIXTURES, 'flux2-vae.safetensors'));
    const files = ['diffusion_models/z_image_turbo_bf16.safetensors', 'text_encoders/qwen_3_4b.safetensors', 'vae/ae.safetensors'].map((f) => join(dir, f));
    await expect(convertCheckpoints(files, { output: join(root, 'wrong'), tokenizers: KLEIN_FIXTURES, hubCache: null })).rejects.toThrow(/ae\.safetensors is a FLUX\.2 VAE, which does not go with a Z-Image transformer/);
    const skipped = convertCheckpoints([dir], { output: join(root, 'wrong'), tokenizers: KLEIN_FIXTURES, hubCache: null });
    await expect(skipped).rejects.toBeInstanceOf(ConvertError);
    await expect(skipped).rejects.toThrow(/a Z-Image bundle needs all 3 of its components; missing: VAE \(ae\.safetensors \(ComfyUI\/models\/vae\)/);
    const lone = join(root, 'models-lone');
    mkdirSync(lone);
    cpSync(ZIMAGE_CHECKPOINT, join(lone, 'z_image_turbo_bf16.safetensors'));
    await expect(convertCheckpoints([lone], { output: join(root, 'lone'), tokenizers: KLEIN_FIXTURES, hubCache: null })).rejects.toThrow(/missing: Qwen3 text encoder \(qwen_3_4b\.safetensors.*; VAE \(ae\.safetensors/);
  });
});

describe('a converted Z-Image bundle in the pipeline', () => {
  it('generates with the timestep fed as 1 − σ; Refine and Extend work from its AE encoder', async () => {
    const pipeline = await loadPipeline(small, { device: 'cpu' });
    try {
      expect(pipeline.info).toMatchObject({ family: 'Z-Image', defaultSteps: 8, defaultGuidance: null, imageToImage: true, guidanceEmbeds: false });
      const feeds: { t: number; omega: number[] }[] = [];
      const sigmas: number[] = [];
      const result = await pipeline.generate(
        { prompt: 'a cat on a mat', width: 96, height: 64, seed: 3, steps: 2 },
        {
          onEvent: (e) => {
            if (e.kind !== 'step') return;
            feeds.push({ t: (e.feeds.timestep.data as Float32Array)[0], omega: Array.from(e.feeds.rope_omega.data as Float32Array) });
            sigmas.push(e.sigma);
          },
        },
      );
      const image = await sharp(result.image).raw().toBuffer({ resolveWithObject: true });
      expect([image.info.width, image.info.height]).toEqual([96, 64]);
      expect(new Set(image.data).size).toBeGreaterThan(8);
      expect(feeds.map((f) => f.t)).toEqual(sigmas.map((s) => Math.fround(1 - s)));
      const refined = await pipeline.generate({ prompt: 'a cat on a mat', width: 96, height: 64, seed: 4, steps: 2, init: { bytes: result.image, id: 'first' }, strength: 0.5 });
      expect((await sharp(refined.image).metadata()).width).toBe(96);
      // Extend: the first image kept in the middle of a wider canvas, the rest drawn around it.
      const extended = await pipeline.generate({ prompt: 'a cat on a mat', width: 160, height: 64, seed: 5, steps: 2, init: { bytes: result.image, id: 'first' }, keep: { x: 32, y: 0, width: 96, height: 64, feather: 8 } });
      expect((await sharp(extended.image).metadata()).width).toBe(160);
    } finally {
      await pipeline.dispose();
    }
  });
});

describe('DyPE on a Z-Image bundle at 4096×2304 (64×36 tokens, native 16×16)', () => {
  /** The rope feeds of the first step of a 4096×2304 run (aborted there: no decode). */
  async function firstStepRope(pipeline: Pipeline, request: Partial<GenerateRequest>): Promise<{ omega: Float32Array; mscale: Float32Array }> {
    const stop = new AbortController();
    let feeds: { omega: Float32Array; mscale: Float32Array } | null = null;
    const run = pipeline.generate(
      { prompt: 'a wide valley', width: 4096, height: 2304, seed: 1, steps: 2, ...request },
      {
        signal: stop.signal,
        onEvent: (e) => {
          if (e.kind !== 'step' || feeds) return;
          feeds = { omega: Float32Array.from(e.feeds.rope_omega.data as Float32Array), mscale: Float32Array.from(e.feeds.rope_mscale.data as Float32Array) };
          stop.abort();
        },
      },
    );
    await expect(run).rejects.toThrow();
    return feeds!;
  }

  it('λs (here of dy-ntk) changes the scaled axes only', async () => {
    const pipeline = await loadPipeline(large, { device: 'cpu' });
    try {
      const weak = await firstStepRope(pipeline, { method: 'dy-ntk', dypeScale: 0.5 });
      const strong = await firstStepRope(pipeline, { method: 'dy-ntk', dypeScale: 4 });
      expect(maxAbsDiff(weak.omega.subarray(0, 16), strong.omega.subarray(0, 16))).toBe(0);
      expect(maxAbsDiff(weak.omega.subarray(16), strong.omega.subarray(16))).toBeGreaterThan(1e-6);
    } finally {
      await pipeline.dispose();
    }
  });

  it.each(['dy-yarn', 'dy-vision-yarn'] as const)('%s scales the row and column axes and leaves the caption axis native', async (method) => {
    const pipeline = await loadPipeline(large, { device: 'cpu' });
    try {
      const { omega, mscale } = await firstStepRope(pipeline, { method });
      const native = fluxRopeFrequencies({ height: 36, width: 64, textTokens: 20 }, 1, { method: 'base', dynamic: false, theta: 256, axesDim: [32, 48, 48] });
      expect(omega).toHaveLength(64);
      expect(maxAbsDiff(omega.subarray(0, 16), native.omega.subarray(0, 16))).toBeLessThan(1e-7); // caption axis: native
      expect([...mscale.subarray(0, 16)].every((m) => m === 1)).toBe(true);
      // rows and columns: DyPE at σ = 1 changes their ω (YaRN) or scales their attention (Vision-YaRN's mscale)
      expect(maxAbsDiff(omega.subarray(16), native.omega.subarray(16)) > 1e-4 || Math.max(...mscale.subarray(16)) > 1).toBe(true);
    } finally {
      await pipeline.dispose();
    }
  });
});

// The acceptance: 4096×2304 (64×36 tokens against a native 16×16), dy-yarn from the CLI (and the UI,
// test/ui/zimage.test.ts), dy-vision-yarn from the companion; both methods' feeds are checked above.
// One step each: the tiny AE's full-resolution decode is most of the time.
describe('4096×2304 from a converted Z-Image bundle', () => {
  const run = promisify(execFile);
  const dype = (...args: string[]) => run('node', ['bin/dype.js', ...args], { env: { ...process.env, HF_HUB_CACHE: join(root, 'no-hub') } });

  it('dype info names the family; dype generate writes 4096×2304 with dy-yarn', async () => {
    const info = await dype('info', '--model', large, '--device', 'cpu');
    expect(info.stdout).toMatch(/family\s+Z-Image/);
    expect(info.stdout).toMatch(/rope\s+axes 32\/48\/48, θ 256, fed as rope_omega \+ rope_mscale/);
    expect(info.stdout).toMatch(/schedule\s+fixed shift 3/);
    const image = join(root, 'cli.png');
    const { stdout } = await dype('generate', '--model', large, '--device', 'cpu', '-p', 'a wide valley', '-W', '4096', '-H', '2304', '--steps', '1', '--seed', '2', '--method', 'dy-yarn', '-o', image, '--no-progress');
    expect(stdout).toMatch(/4096×2304 png, seed 2, 1 steps? dy-yarn/);
    expect(await sharp(image).metadata()).toMatchObject({ width: 4096, height: 2304 });
  }, 600_000);

  it('the companion reports the family and generates 4096×2304 with dy-vision-yarn', async () => {
    const engine = await loadPipeline(large, { device: 'cpu' });
    const companion = await createCompanion({ engine, dataDir: join(root, 'companion'), token: TOKEN, port: 0, version: 'zimage-test', previewIntervalMs: 0 });
    try {
      const api = new Api(await companion.listen());
      const health = await api.get('/v1/health');
      expect(health.body).toMatchObject({ ok: true, model: 'bundle', family: 'Z-Image', nativeResolution: 1024, defaultSteps: 8, defaultGuidance: null });
      const submitted = await api.post('/v1/jobs', { prompt: 'a wide valley', width: 4096, height: 2304, seed: 5, steps: 1, method: 'dy-vision-yarn' });
      expect(submitted.status).toBe(202);
      await api.events(submitted.body.id).all(600_000);
      const job = (await api.get(`/v1/jobs/${submitted.body.id}`)).body;
      expect(job.state, JSON.stringify(job.error)).toBe('done');
      const meta = await sharp((await api.bytes(`/v1/jobs/${job.id}/image`)).bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 4096, 2304]);
    } finally {
      await companion.close();
      await engine.dispose();
    }
  }, 600_000);
});

