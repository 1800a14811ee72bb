// `dype convert` on ComfyUI-style FLUX.2 [klein] files (tiny, real key names) → a flux2 bundle that
// the normal pipeline runs at twice the native size with dy-yarn, DyPE scaling the image axes only
// (test/cli/klein.test.ts and the companion and UI tests generate 4096×1024 from the same files).
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatConvertReport } from '../../runtime/cli/convert.ts';
import { ConvertError, convertCheckpoints, type ConvertReport } from '../../runtime/convert/index.ts';
import { loadPipeline, readBundle } from '../../runtime/pipeline/index.ts';
import type { TensorData } from '../../runtime/pipeline/ort.ts';
import { tempRoot } from './helpers/flux-fixtures.ts';
import { writeKleinModels } from './helpers/klein-models.ts';

const { root, cleanup } = tempRoot('dype-convert-klein-');
afterAll(cleanup);

let report: ConvertReport;
let bundle = '';
let models = '';

beforeAll(async () => {
  const written = writeKleinModels(root);
  models = written.models;
  bundle = join(root, 'klein');
  report = await convertCheckpoints([models], { output: bundle, tokenizers: written.tokenizers, hubCache: null });
});

describe('dype convert: FLUX.2 [klein]', () => {
  it('finds the transformer, Qwen3 and the FLUX.2 VAE, leaving the FLUX.1 VAE beside them alone', () => {
    expect(report.family).toBe('flux2');
    expect(report.components.map((c) => [c.kind, c.folders])).toEqual([
      ['transformer', ['transformer']],
      ['qwen3', ['text_encoder']],
      ['vae', ['vae_decoder', 'vae_encoder']],
    ]);
    expect(report.ignored).toEqual([join(models, 'vae', 'ae.safetensors')]);
    expect(report.model).toMatch(/^FLUX\.2 \(width 32, 2 \+ 2 blocks\) \(licence: unknown: check the model card\): 2 double \+ 2 single blocks/);
    expect(report.tokenizers).toMatchObject([{ kind: 'qwen', maxLength: 512 }]);
  });

  it('writes the transformer\'s float16 twin, which GPU providers load', () => {
    expect(readBundle(bundle).halfTransformer).toBe(join(bundle, 'transformer', 'model.fp16.onnx'));
  });

  it('writes a flux2 dype.json: 4 RoPE axes at θ 2000, 32 latent channels packed 2×2 under the VAE BatchNorm, 4 steps', () => {
    const { config, shift } = readBundle(bundle);
    expect(config).toMatchObject({
      family: 'flux2',
      rope: { axesDim: [4, 4, 4, 4], theta: 2000, inputs: 'omega' },
      latentChannels: 4,
      patchSize: 2,
      pixelsPerToken: 16,
      nativeResolution: 1024,
      vae: { scaleFactorPx: 8, scalingFactor: 1, shiftFactor: 0, encoder: true },
      text: { qwenMaxLength: 512 },
      defaults: { steps: 4, guidance: null },
    });
    expect(config.vae.latentNorm?.mean).toHaveLength(16);
    expect(config.vae.latentNorm?.eps).toBe(1e-4);
    expect(shift).toMatchObject({ dynamic: true, mu: 'flux2-empirical' });
    expect(formatConvertReport(report)).toMatch(/tokenizer\s+Qwen3 from .*tokenizer \(tokenizer\.json\)/);
  });

  it('generates 2048×512 with dy-yarn: Qwen3 text of 512 tokens, (t, h, w, l) ids, only h and w scaled', async () => {
    const pipeline = await loadPipeline(bundle, { device: 'cpu' });
    try {
      expect(pipeline.info).toMatchObject({ ropeInputs: 'omega', guidanceEmbeds: false, nativeResolution: 1024 });
      const steps: Readonly<Record<string, TensorData>>[] = [];
      const result = await pipeline.generate(
        { prompt: 'a cat on a mat', width: 2048, height: 512, seed: 7, steps: 2, method: 'dy-yarn' },
        { onEvent: (e) => { if (e.kind === 'step') steps.push(e.feeds); } },
      );
      const image = await sharp(result.image).raw().toBuffer({ resolveWithObject: true });
      expect([image.info.width, image.info.height]).toEqual([2048, 512]);
      expect(new Set(image.data).size).toBeGreaterThan(8);
      const [first] = steps;
      expect(first.encoder_hidden_states.dims).toEqual([1, 512, 48]);
      expect(first.img_ids.dims).toEqual([32 * 128, 4]);
      expect(Array.from(first.txt_ids.data as Float32Array).slice(4 * 5, 4 * 6)).toEqual([0, 0, 0, 5]);
      // ω per axis (2 frequencies each): t and l native (θ 2000), w extrapolated at 2× native.
      const omega = Array.from(first.rope_omega.data as Float32Array);
      const native = [1, 1 / Math.sqrt(2000)];
      for (const axis of [0, 3]) omega.slice(2 * axis, 2 * axis + 2).forEach((w, i) => expect(w).toBeCloseTo(native[i], 6));
      expect(omega[2 * 2 + 1]).toBeLessThan(native[1]);
      expect(Array.from(first.rope_mscale.data as Float32Array).slice(0, 2)).toEqual([1, 1]);
    } finally {
      await pipeline.dispose();
    }
  }, 60_000);

  it('refines and extends on klein: the VAE encoder and the BatchNorm normalisation on the way in', async () => {
    const pipeline = await loadPipeline(bundle, { device: 'cpu' });
    try {
      expect(pipeline.info.imageToImage).toBe(true);
      const init = await sharp({ create: { width: 256, height: 128, channels: 3, background: '#3a7bd5' } }).png().toBuffer();
      const refined = await pipeline.generate({ prompt: 'a cat', width: 512, height: 256, seed: 2, steps: 2, init: { bytes: init, id: 'init' }, strength: 0.5 });
      expect((await sharp(refined.image).metadata()).width).toBe(512);
      // Extend: the kept rectangle is the init's pixels exactly, the rest is drawn
      const keep = { x: 128, y: 64, width: 256, height: 128, feather: 0 };
      const extended = await pipeline.generate({ prompt: 'a cat', width: 512, height: 256, seed: 2, steps: 2, init: { bytes: init, id: 'init' }, strength: 0.6, keep });
      const raw = await sharp(extended.image).raw().toBuffer();
      const pixel = (x: number, y: number) => [...raw.subarray((y * 512 + x) * 3, (y * 512 + x) * 3 + 3)];
      expect(pixel(256, 128)).toEqual([0x3a, 0x7b, 0xd5]);
    } finally {
      await pipeline.dispose();
    }
  }, 60_000);

  it('refuses a FLUX.1 VAE given by name with a klein transformer', async () => {
    await expect(
      convertCheckpoints([join(models, 'diffusion_models'), join(models, 'text_encoders'), join(models, 'vae', 'ae.safetensors')], { output: join(root, 'mixed'), hubCache: null }),
    ).rejects.toThrow(ConvertError);
  });
});
