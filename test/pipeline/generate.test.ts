// End to end on the real demo bundle with real onnxruntime-node sessions.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axisRope } from '../../runtime/dype/index.ts';
import { decodeTiled } from '../../runtime/pipeline/decode.ts';
import { readPngText } from '../../runtime/pipeline/image.ts';
import { createSession } from '../../runtime/pipeline/ort.ts';
import { GENERATION_METHODS, loadPipeline, METHOD_ROPE, type Pipeline, type GenerateRequest } from '../../runtime/pipeline/index.ts';
import { gaussianNoise } from '../../runtime/pipeline/noise.ts';
import { tempDemoBundle } from '../helpers/demo.ts';
import { DEMO_DIMS } from '../../runtime/demo/index.ts';

let bundle: { dir: string; cleanup: () => void };
let pipeline: Pipeline;

beforeAll(async () => {
  bundle = await tempDemoBundle();
  pipeline = await loadPipeline(bundle.dir, { device: 'cpu' });
});
afterAll(async () => {
  await pipeline?.dispose();
  bundle?.cleanup();
});

const base: GenerateRequest = { prompt: 'a lighthouse at dawn', width: 1024, height: 1024, seed: 7, steps: 3 };
const bytes = async (req: Partial<GenerateRequest>) => Buffer.from((await pipeline.generate({ ...base, ...req })).image);
const pixels = async (png: Uint8Array) => (await sharp(png).raw().toBuffer({ resolveWithObject: true }));

describe('generate on the demo model', () => {
  it('same seed ⇒ identical bytes; other seeds or prompts ⇒ other images', async () => {
    const a = await bytes({});
    expect(a.equals(await bytes({}))).toBe(true);
    expect(a.equals(await bytes({ seed: 8 }))).toBe(false);
    expect(a.equals(await bytes({ prompt: 'a field of sunflowers' }))).toBe(false);
  });

  it('at the native size every method feeds native ω with mscale 1 and gives the same pixels', async () => {
    const native = [4, 14, 14].flatMap((dim) => Array.from(axisRope(dim, 1, 1, { method: 'base', dynamic: false }).omega, Math.fround));
    const rgb = async (method: GenerateRequest['method']) => {
      const result = await pipeline.generate({ ...base, method }, {
        onEvent: (e) => {
          if (e.kind !== 'step') return;
          expect(Array.from(e.feeds.rope_omega.data as Float32Array), method).toEqual(native);
          expect((e.feeds.rope_mscale.data as Float32Array).every((m) => m === 1), method).toBe(true);
        },
      });
      return (await pixels(result.image)).data;
    };
    const ref = await rgb('base');
    for (const method of GENERATION_METHODS.filter((m) => m !== 'base')) {
      expect((await rgb(method)).equals(ref), method).toBe(true);
    }
  });

  it('at 4× native (a 4096×1024 banner) every method is fed its own ω at each step, with the λ values asked for', async () => {
    const fedBy = new Map<string, string>();
    for (const method of GENERATION_METHODS) {
      const abort = new AbortController();
      const fed: { sigma: number; omega: Float32Array; mscale: Float32Array }[] = [];
      // stopped after the last step: the feeds are what this test is about, the decode is not
      const run = pipeline.generate({ ...base, width: 4096, height: 1024, steps: 2, method, dypeScale: 1.5, dypeExponent: 'auto' }, {
        signal: abort.signal,
        onEvent: (e) => {
          if (e.kind !== 'step') return;
          // feeds are valid during the call only: keep copies
          fed.push({ sigma: e.sigma, omega: (e.feeds.rope_omega.data as Float32Array).slice(), mscale: (e.feeds.rope_mscale.data as Float32Array).slice() });
          if (e.step === e.steps) abort.abort();
        },
      });
      await expect(run).rejects.toMatchObject({ code: 'cancelled' });
      expect(fed.map((f) => f.sigma)[0]).toBe(1);
      expect(fed.length).toBe(2);
      // 16×64 tokens on a 16-token native grid: the long axis is 4×, and auto picks λt = 2 at 4×
      const rope = { ...METHOD_ROPE[method], baseLength: 16, axesDim: [4, 14, 14], lambdaS: 1.5, lambdaT: 2 };
      for (const { sigma, omega, mscale } of fed) {
        const axes = [axisRope(4, 1, sigma, { ...rope, method: 'base' }), axisRope(14, 16, sigma, rope, { globalScale: 4 }), axisRope(14, 64, sigma, rope, { globalScale: 4 })];
        const expected = axes.flatMap((a) => Array.from(a.omega, (w) => ({ w, m: a.mscale })));
        expect(omega.length).toBe(expected.length);
        expected.forEach(({ w, m }, j) => {
          expect(omega[j]).toBe(Math.fround(w));
          expect(mscale[j]).toBe(Math.fround(m));
        });
      }
      fedBy.set(method, JSON.stringify(fed.map((f) => [Array.from(f.omega), Array.from(f.mscale)])));
    }
    // every method feeds something no other method feeds
    expect(new Set(fedBy.values()).size).toBe(GENERATION_METHODS.length);
  });

  it('isotropic YaRN feeds the banner\'s short axis the long axis\'s scale', async () => {
    const abort = new AbortController();
    let omega: Float32Array | undefined;
    const run = pipeline.generate({ ...base, width: 4096, height: 1024, steps: 1, method: 'yarn', yarnScaling: 'isotropic' }, {
      signal: abort.signal,
      onEvent: (e) => {
        if (e.kind !== 'step') return;
        omega = (e.feeds.rope_omega.data as Float32Array).slice();
        abort.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'cancelled' });
    const square = axisRope(14, 64, 1, { method: 'yarn', dynamic: false, baseLength: 16 });
    expect(Array.from(omega!.subarray(2, 9))).toEqual(Array.from(square.omega, Math.fround)); // rows: 16 tokens, scaled as 64
    expect(Array.from(omega!.subarray(9, 16))).toEqual(Array.from(square.omega, Math.fround));
  });

  it('auto λt follows the documented thresholds: 0.5 at 1.5×, 1 at 2.5×, 2 at 4× native', () => {
    const pick = (width: number, height: number) => pipeline.resolveRequest({ ...base, width, height, dypeExponent: 'auto' });
    expect(pick(1536, 1024)).toMatchObject({ dypeExponent: 0.5, dypeExponentAuto: true });
    expect(pick(2560, 2560)).toMatchObject({ dypeExponent: 1, dypeExponentAuto: true });
    expect(pick(1024, 4096)).toMatchObject({ dypeExponent: 2, dypeExponentAuto: true });
    expect(pipeline.resolveRequest({ ...base, width: 4096, dypeExponent: 0.7 })).toMatchObject({ dypeExponent: 0.7, dypeExponentAuto: false });
    // the demo bundle's dype.json leaves both at λs = λt = 2
    expect(pipeline.resolveRequest(base)).toMatchObject({ dypeScale: 2, dypeExponent: 2, dypeExponentAuto: false });
  });

  it('at 4× native, base / yarn / dy-yarn differ, and each step is fed axisRope at its σ', async () => {
    const req = { width: 4096, height: 4096, steps: 2 };
    const images = new Map<string, Buffer>();
    for (const method of ['base', 'yarn', 'dy-yarn'] as const) {
      const fed: { sigma: number; omega: Float32Array; mscale: Float32Array }[] = [];
      const result = await pipeline.generate({ ...base, ...req, method }, {
        onEvent: (e) => {
          if (e.kind === 'step') fed.push({ sigma: e.sigma, omega: e.feeds.rope_omega.data as Float32Array, mscale: e.feeds.rope_mscale.data as Float32Array });
        },
      });
      images.set(method, Buffer.from(result.image));
      expect(fed.length).toBe(2);
      expect(fed[0].sigma).toBe(1);
      const rope = { ...METHOD_ROPE[method], baseLength: 16, axesDim: [4, 14, 14] };
      for (const { sigma, omega, mscale } of fed) {
        const axes = [axisRope(4, 1, sigma, { ...rope, method: 'base' }), axisRope(14, 64, sigma, rope), axisRope(14, 64, sigma, rope)];
        const expected = axes.flatMap((a) => Array.from(a.omega, (w) => ({ w, m: a.mscale })));
        expect(omega.length).toBe(expected.length);
        expected.forEach(({ w, m }, j) => {
          expect(omega[j]).toBe(Math.fround(w));
          expect(mscale[j]).toBe(Math.fround(m));
        });
      }
    }
    expect(images.get('base')!.equals(images.get('yarn')!)).toBe(false);
    expect(images.get('yarn')!.equals(images.get('dy-yarn')!)).toBe(false);
    expect(images.get('base')!.equals(images.get('dy-yarn')!)).toBe(false);
  });

  it.each([
    [1000, 1500],
    [4096, 2304],
    [333, 777],
  ])('exact output size %i×%i', async (width, height) => {
    const result = await pipeline.generate({ ...base, width, height, steps: 1 });
    const meta = await sharp(result.image).metadata();
    expect([meta.width, meta.height]).toEqual([width, height]);
    expect(readPngText(result.image)).toMatchObject({ prompt: base.prompt, seed: '7', size: `${width}x${height}`, method: 'dy-yarn', model: 'dype-demo' });
  });

  it('JPEG output decodes at the asked size', async () => {
    const result = await pipeline.generate({ ...base, width: 640, height: 480, steps: 1, format: 'jpg' });
    expect(result.mimeType).toBe('image/jpeg');
    const meta = await sharp(result.image).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 640, 480]);
  });

  it('reports each step in one event stream, with previews drawn on request before the end', async () => {
    const seen: { step: number; etaMs: number; offered: boolean }[] = [];
    const previews: Array<Promise<{ step: number; png: Uint8Array; width: number }>> = [];
    await pipeline.generate({ ...base, steps: 4 }, {
      onEvent: (e) => {
        if (e.kind !== 'step') return;
        seen.push({ step: e.step, etaMs: e.etaMs, offered: e.preview !== undefined });
        if (e.preview && e.step !== 2) previews.push(e.preview().then((p) => ({ step: e.step, ...p })));
      },
    });
    expect(seen.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    expect(seen[3].etaMs).toBe(0);
    expect(seen.map((p) => p.offered)).toEqual([true, true, true, false]); // never the last
    const drawn = await Promise.all(previews);
    expect(drawn.map((p) => p.step)).toEqual([1, 3]);
    const meta = await sharp(drawn[0].png).metadata();
    expect(meta.width).toBe(drawn[0].width);
    expect(meta.width).toBeGreaterThanOrEqual(128);
  });

  it('reports each decoded VAE tile after the last step', async () => {
    const order: string[] = [];
    const tiles: [number, number][] = [];
    await pipeline.generate({ ...base, width: 2048, height: 1024, steps: 2 }, {
      onEvent: (e) => {
        if (e.kind === 'step') order.push(`step ${e.step}`);
        else {
          order.push('tile');
          tiles.push([e.tile, e.tiles]);
        }
      },
    });
    // 64×32 latent px in 32-px tiles overlapping by 12: columns start at 0, 20, 40 → 3 tiles
    expect(tiles).toEqual([[1, 3], [2, 3], [3, 3]]);
    expect(order).toEqual(['step 1', 'step 2', 'tile', 'tile', 'tile']);
  });

  it('cancellation stops before the next step', async () => {
    const abort = new AbortController();
    let calls = 0;
    const run = pipeline.generate({ ...base, steps: 6 }, {
      signal: abort.signal,
      onEvent: (e) => {
        calls++;
        if (e.kind === 'step' && e.step === 2) abort.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'cancelled' });
    expect(calls).toBe(2);
  });

  it('rejects bad requests with the field named', async () => {
    await expect(pipeline.generate({ ...base, width: 10 })).rejects.toThrow(/width must be an integer from 64/);
    await expect(pipeline.generate({ ...base, width: 8192, height: 8192 + 64 })).rejects.toThrow(/height/);
    await expect(pipeline.generate({ ...base, steps: 0 })).rejects.toThrow(/steps/);
    await expect(pipeline.generate({ ...base, seed: -3 })).rejects.toThrow(/seed/);
    await expect(pipeline.generate({ ...base, method: 'fancy' as never })).rejects.toThrow(/method must be one of/);
    // the contract's rules, as the companion and the CLI apply them
    await expect(pipeline.generate({ ...base, guidance: 31 })).rejects.toThrow('guidance must be a number from 0 to 30, got 31');
    await expect(pipeline.generate({ ...base, steps: 101 })).rejects.toMatchObject({ code: 'bad_request', message: 'steps must be an integer from 1 to 100, got 101' });
    await expect(pipeline.generate({ ...base, dypeScale: 9 })).rejects.toThrow(/dypeScale must be a number from 0 to 8, got 9/);
    await expect(pipeline.generate({ ...base, dypeScale: Number.NaN })).rejects.toThrow(/dypeScale/);
    await expect(pipeline.generate({ ...base, dypeExponent: -1 })).rejects.toThrow(/dypeExponent must be "auto" or a number from 0 to 8, got -1/);
    await expect(pipeline.generate({ ...base, dypeExponent: 'fast' as never })).rejects.toThrow(/dypeExponent/);
    await expect(pipeline.generate({ ...base, yarnScaling: 'square' as never })).rejects.toThrow(/yarnScaling must be one of anisotropic, isotropic/);
  });
});

describe('tiled VAE decode on the real decoder', () => {
  it('equals the whole decode to within one 8-bit level when the margin covers the receptive field', async () => {
    const vae = await createSession(`${bundle.dir}/vae_decoder/model.onnx`, 'cpu');
    const shape = { channels: 4, height: 40, width: 56 };
    const latent = gaussianNoise(3, 4 * 40 * 56);
    const decode = async (tile: Float32Array, h: number, w: number) =>
      (await vae.run({ latent_sample: { type: 'float32', data: tile, dims: [1, 4, h, w] } })).sample.data as Float32Array;
    const whole = await decodeTiled(latent, shape, 32, { tile: 64, overlap: 0 }, decode);
    const tiled = await decodeTiled(latent, shape, 32, { tile: 24, overlap: 12, margin: DEMO_DIMS.vaeHalo }, decode);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < whole.length; i++) {
      const d = Math.abs(whole[i] - tiled[i]);
      sum += d;
      max = Math.max(max, d);
    }
    await vae.release();
    expect(sum / whole.length).toBeLessThan(0.01);
    expect(max).toBeLessThanOrEqual(1);
  });
});
