import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeImage, readPngText } from '../../runtime/pipeline/image.ts';
import { planSize } from '../../runtime/pipeline/pipeline.ts';

const gradient = (w: number, h: number) => {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x % 256, y % 256, (x + y) % 256], (y * w + x) * 3);
  return { data, width: w, height: h };
};

describe('image encoding', () => {
  it('PNG keeps the generation parameters as UTF-8 text', async () => {
    const png = await encodeImage(gradient(64, 32), 'png', null, { prompt: 'café ☕ 日本', seed: '7' });
    expect(readPngText(png)).toMatchObject({ prompt: 'café ☕ 日本', seed: '7' });
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([64, 32, 'png']);
  });

  it('crops to the exact size', async () => {
    const png = await encodeImage(gradient(128, 96), 'png', { left: 10, top: 3, width: 100, height: 90 }, {});
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([100, 90]);
    expect([data[0], data[1], data[2]]).toEqual([10, 3, 13]);
  });

  it('JPEG decodes at the size asked', async () => {
    const jpg = await encodeImage(gradient(80, 48), 'jpg', null, { prompt: 'x' });
    const meta = await sharp(jpg).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([80, 48, 'jpeg']);
    // EXIF ImageDescription carries the parameters as JSON
    expect(Buffer.from(meta.exif!).includes(Buffer.from(JSON.stringify({ prompt: 'x' })))).toBe(true);
  });
});

describe('size plan', () => {
  it('covers odd sizes with whole tokens and centres the crop', () => {
    const p = planSize(1000, 1500, 64);
    expect([p.cols, p.rows, p.generatedWidth, p.generatedHeight]).toEqual([16, 24, 1024, 1536]);
    expect(p.crop).toEqual({ left: 12, top: 18, width: 1000, height: 1500 });
  });
  it('token multiples need no crop', () => {
    expect(planSize(4096, 2304, 16).crop).toEqual({ left: 0, top: 0, width: 4096, height: 2304 });
  });
});
