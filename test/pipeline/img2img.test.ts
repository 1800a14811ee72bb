// Image-to-image, Extend and size-independent seeds, end to end on the demo bundle (real ORT sessions).
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../runtime/pipeline/ort.ts';
import { loadPipeline, type GenerateRequest, type KeepRect, type Pipeline } from '../../runtime/pipeline/index.ts';
import { readPngText } from '../../runtime/pipeline/image.ts';
import { tempDemoBundle } from '../helpers/demo.ts';

let bundle: { dir: string; cleanup: () => void };
let pipeline: Pipeline;
/** A smooth 1024² picture: colour waves (not from the pipeline, so nothing is compared with itself). */
let wavesPng: Uint8Array;

beforeAll(async () => {
  bundle = await tempDemoBundle();
  pipeline = await loadPipeline(bundle.dir, { device: 'cpu' });
  const side = 1024;
  const px = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      for (let k = 0; k < 3; k++) px[(y * side + x) * 3 + k] = Math.round(127.5 + 90 * Math.sin((2 * Math.PI * (x + 2 * y + 150 * k)) / 1400));
    }
  }
  wavesPng = new Uint8Array(await sharp(px, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer());
});
afterAll(async () => {
  await pipeline?.dispose();
  bundle?.cleanup();
});

const base: GenerateRequest = { prompt: 'a lighthouse at dawn', width: 1024, height: 1024, seed: 7, steps: 4 };
const pixels = async (png: Uint8Array, size?: [number, number]) => {
  let s = sharp(png).removeAlpha();
  if (size) s = s.resize(size[0], size[1], { fit: 'fill', kernel: 'cubic' });
  return new Uint8Array(await s.raw().toBuffer());
};
const meanAbsDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

function correlation(a: Uint8Array, b: Uint8Array): number {
  const n = a.length;
  let [ma, mb] = [0, 0];
  for (let i = 0; i < n; i++) [ma, mb] = [ma + a[i] / n, mb + b[i] / n];
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const [x, y] = [a[i] - ma, b[i] - mb];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('image-to-image', () => {
  it('strength 0 is the VAE round trip of the init, computed here with the bundle’s own encoder and decoder', async () => {
    const result = await pipeline.generate({ ...base, init: { bytes: wavesPng, id: 'upload-waves0000000000000' }, strength: 0 });
    const [enc, dec] = [await createSession(`${bundle.dir}/vae_encoder/model.onnx`, 'cpu'), await createSession(`${bundle.dir}/vae_decoder/model.onnx`, 'cpu')];
    const init = await pixels(wavesPng);
    const planar = new Float32Array(3 * 1024 * 1024);
    for (let i = 0; i < 1024 * 1024; i++) for (let k = 0; k < 3; k++) planar[k * 1024 * 1024 + i] = init[i * 3 + k] / 127.5 - 1;
    const params = (await enc.run({ sample: { type: 'float32', data: planar, dims: [1, 3, 1024, 1024] } })).latent_parameters.data as Float32Array;
    const mean = params.slice(0, 4 * 32 * 32); // the mean: the first half of mean ‖ log-variance
    const image = (await dec.run({ latent_sample: { type: 'float32', data: mean, dims: [1, 4, 32, 32] } })).sample.data as Float32Array;
    await Promise.all([enc.release(), dec.release()]);
    const expected = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < 1024 * 1024; i++) for (let k = 0; k < 3; k++) expected[i * 3 + k] = Math.min(255, Math.max(0, Math.round((image[k * 1024 * 1024 + i] + 1) * 127.5)));
    const got = await pixels(result.image);
    let max = 0;
    for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - expected[i]));
    expect(max).toBeLessThanOrEqual(1); // rounding of the float → 8-bit step
    // and the round trip is faithful to the init (the demo VAE is an analytic pair): measured 1.5 levels
    expect(meanAbsDiff(got, init)).toBeLessThan(3);
    expect(readPngText(result.image)).toMatchObject({ init: 'upload-waves0000000000000', strength: '0' });
  });

  it('strength 1 is text-to-image with the same seed', async () => {
    const t2i = await pipeline.generate(base);
    const sigmas: number[] = [];
    const i2i = await pipeline.generate({ ...base, init: { bytes: wavesPng, id: 'x' }, strength: 1 }, { onEvent: (e) => e.kind === 'step' && sigmas.push(e.sigma) });
    expect(sigmas.length).toBe(4);
    expect(Buffer.from(await pixels(i2i.image)).equals(Buffer.from(await pixels(t2i.image)))).toBe(true);
  });

  it('strength s runs ⌈s·steps⌉ steps from σ = s, and lands between the init and text-to-image', async () => {
    const sigmas: number[] = [];
    const result = await pipeline.generate({ ...base, steps: 8, init: { bytes: wavesPng, id: 'x' }, strength: 0.3 }, { onEvent: (e) => e.kind === 'step' && sigmas.push(e.sigma) });
    expect(sigmas.length).toBe(3);
    expect(sigmas[0]).toBe(0.3);
    expect(sigmas[1]).toBeLessThan(0.3);
    const init = await pixels(wavesPng);
    const t2i = await pixels((await pipeline.generate({ ...base, steps: 8 })).image);
    const got = await pixels(result.image);
    expect(meanAbsDiff(got, init)).toBeLessThan(meanAbsDiff(t2i, init) / 2);
  });

  it('resizes an init of another size and aspect to the output', async () => {
    const small = new Uint8Array(await sharp(wavesPng).resize(300, 500, { fit: 'fill' }).jpeg().toBuffer());
    const result = await pipeline.generate({ ...base, width: 640, height: 448, init: { bytes: small, id: 'x' }, strength: 0 });
    const meta = await sharp(result.image).metadata();
    expect([meta.width, meta.height]).toEqual([640, 448]);
    const expected = await pixels(await sharp(small).resize(640, 448, { fit: 'fill' }).png().toBuffer());
    expect(meanAbsDiff(await pixels(result.image), expected)).toBeLessThan(4);
  });

  it('refuses strength or keep without init, keep outside the output, and bytes that are no image', async () => {
    await expect(pipeline.generate({ ...base, strength: 0.5 })).rejects.toThrow(/strength needs init/);
    await expect(pipeline.generate({ ...base, keep: { x: 0, y: 0, width: 10, height: 10, feather: 0 } })).rejects.toThrow(/keep needs init/);
    const init = { bytes: wavesPng, id: 'x' };
    await expect(pipeline.generate({ ...base, init, keep: { x: 100, y: 0, width: 1000, height: 10, feather: 0 } })).rejects.toThrow(/keep must lie within the 1024×1024 output/);
    await expect(pipeline.generate({ ...base, init, strength: 1.5 })).rejects.toThrow(/strength must be a number from 0 to 1/);
    await expect(pipeline.generate({ ...base, init: { bytes: new Uint8Array([1, 2, 3]), id: 'x' } })).rejects.toMatchObject({ code: 'bad_request' });
  });
});

describe('Extend: the init kept in a rectangle, the rest generated', () => {
  const feather = 48;
  // 512² init into a 768×512 or 512×768 frame: the old image moves by 256 px when the frame grew on that side.
  const cases: [string, number, number, KeepRect][] = [
    ['left', 768, 512, { x: 256, y: 0, width: 512, height: 512, feather }],
    ['right', 768, 512, { x: 0, y: 0, width: 512, height: 512, feather }],
    ['top', 512, 768, { x: 0, y: 256, width: 512, height: 512, feather }],
    ['bottom', 512, 768, { x: 0, y: 0, width: 512, height: 512, feather }],
  ];
  it.each(cases)('grown on the %s: the old image stays at its offset, exact outside the feather band', async (_edge, width, height, keep) => {
    const init = new Uint8Array(await sharp(wavesPng).resize(512, 512).png().toBuffer());
    const initPx = await pixels(init);
    const result = await pipeline.generate({ ...base, width, height, steps: 3, init: { bytes: init, id: 'x' }, keep, strength: 0.5 });
    const out = await pixels(result.image);
    let exact = 0;
    let checked = 0;
    let outsideDiff = 0;
    let outsideCount = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const inX = x - keep.x;
        const inY = y - keep.y;
        const inside = inX >= 0 && inY >= 0 && inX < keep.width && inY < keep.height;
        // distance to an edge of the rectangle that is not on the frame border
        const d = Math.min(
          keep.x > 0 ? inX : Infinity,
          keep.y > 0 ? inY : Infinity,
          keep.x + keep.width < width ? keep.width - 1 - inX : Infinity,
          keep.y + keep.height < height ? keep.height - 1 - inY : Infinity,
        );
        for (let k = 0; k < 3; k++) {
          const o = (y * width + x) * 3 + k;
          if (inside && d >= feather) {
            checked++;
            if (out[o] === initPx[(inY * 512 + inX) * 3 + k]) exact++;
          } else if (!inside) {
            outsideDiff += Math.abs(out[o] - 127);
            outsideCount++;
          }
        }
      }
    }
    expect(checked).toBe(3 * 512 * (512 - feather));
    expect(exact).toBe(checked);
    expect(outsideDiff / outsideCount).toBeGreaterThan(5); // the new area is drawn, not left flat grey
    expect(JSON.parse(readPngText(result.image).keep)).toEqual(keep);
  });

  it('the seam is feathered: inside the band the output moves gradually from generated to the init', async () => {
    const init = new Uint8Array(await sharp(wavesPng).resize(512, 512).png().toBuffer());
    const keep = { x: 256, y: 0, width: 512, height: 512, feather: 64 };
    const sharpSeam = await pixels((await pipeline.generate({ ...base, width: 768, height: 512, steps: 3, init: { bytes: init, id: 'x' }, keep: { ...keep, feather: 0 } })).image);
    const soft = await pixels((await pipeline.generate({ ...base, width: 768, height: 512, steps: 3, init: { bytes: init, id: 'x' }, keep })).image);
    const initPx = await pixels(init);
    // mean |output − init| along columns inside the band: falls from the seam inwards
    const columnDiff = (img: Uint8Array, x: number) => {
      let s = 0;
      for (let y = 0; y < 512; y++) for (let k = 0; k < 3; k++) s += Math.abs(img[(y * 768 + x) * 3 + k] - initPx[(y * 512 + x - 256) * 3 + k]);
      return s / (512 * 3);
    };
    expect(columnDiff(sharpSeam, 256)).toBe(0);
    expect(columnDiff(soft, 256)).toBeGreaterThan(columnDiff(soft, 256 + 48));
    expect(columnDiff(soft, 256 + 64)).toBe(0);
  });

  it('the new area is drawn to match the kept image: it depends on the init (latent blending at every step)', async () => {
    const keep = { x: 256, y: 0, width: 512, height: 512, feather: 0 };
    const newArea = async (png: Uint8Array) => {
      const out = await pixels((await pipeline.generate({ ...base, width: 768, height: 512, steps: 3, init: { bytes: png, id: 'x' }, keep, strength: 0 })).image);
      return out.filter((_, i) => Math.floor(i / 3) % 768 < 256);
    };
    const a = new Uint8Array(await sharp(wavesPng).resize(512, 512).png().toBuffer());
    const b = new Uint8Array(await sharp(wavesPng).resize(512, 512).negate().png().toBuffer());
    // Without the blend the new area would start from the same noise and never see the init: identical.
    const [na, nb] = [await newArea(a), await newArea(b)];
    const near = (img: Uint8Array) => img.filter((_, i) => Math.floor(i / 3) % 256 >= 192); // the 64 columns by the seam
    // Measured: 3.0 levels over the new area, 8.1 in its 64 columns next to the seam (0 without the blend).
    expect(meanAbsDiff(na, nb)).toBeGreaterThan(1);
    expect(meanAbsDiff(near(na), near(nb))).toBeGreaterThan(4);
  });
});

describe('size-independent seeds', () => {
  it('the same seed at 1024×1024 and 1536×1024 gives pictures that correlate when downsampled; other seeds do not', async () => {
    const small = async (seed: number, width: number) => pixels((await pipeline.generate({ ...base, seed, width })).image, [16, 16]);
    const same: number[] = [];
    const other: number[] = [];
    for (const seed of [7, 11, 3]) {
      const square = await small(seed, 1024);
      same.push(correlation(square, await small(seed, 1536)));
      other.push(correlation(square, await small(seed + 1, 1536)));
    }
    // Measured on the demo model (16×16 RGB, Pearson): same seed 0.535, 0.521, 0.519; seed + 1 0.019, 0.084, 0.013.
    expect(Math.min(...same)).toBeGreaterThan(0.35);
    expect(Math.max(...other)).toBeLessThan(0.2);
  });
});
