import { describe, expect, it } from 'vitest';
import { imageIds, packLatents, textIds, unpackLatents } from '../../runtime/pipeline/latents.ts';

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => i * 0.5 - 7);

describe('latent packing', () => {
  it('round-trips [C,h,w] through 2x2 patch tokens', () => {
    const shape = { channels: 16, height: 6, width: 10 };
    const latent = ramp(16 * 6 * 10);
    expect(unpackLatents(packLatents(latent, shape), shape)).toEqual(latent);
  });

  it('round-trips with another patch size', () => {
    const shape = { channels: 3, height: 9, width: 6 };
    const latent = ramp(3 * 9 * 6);
    expect(unpackLatents(packLatents(latent, shape, 3), shape, 3)).toEqual(latent);
  });

  it('orders tokens row-major and features channel, patch row, patch column', () => {
    const shape = { channels: 2, height: 4, width: 4 };
    const latent = ramp(2 * 16);
    const packed = packLatents(latent, shape);
    const at = (c: number, y: number, x: number) => latent[c * 16 + y * 4 + x];
    // token (row 1, col 0) = index 2; feature (c=1, di=0, dj=1) = 1*4 + 0*2 + 1 = 5
    expect(packed[2 * 8 + 5]).toBe(at(1, 2, 1));
    // token (row 0, col 1) = index 1; feature (c=0, di=1, dj=0) = 2
    expect(packed[1 * 8 + 2]).toBe(at(0, 1, 2));
  });

  it('rejects latents that are not patch multiples', () => {
    expect(() => packLatents(new Float32Array(16 * 5 * 4), { channels: 16, height: 5, width: 4 })).toThrow(/multiple of the 2x2 patch/);
  });
});

describe('position ids', () => {
  it('image ids are (0, row, col) in row-major order', () => {
    const ids = imageIds(2, 3);
    expect(Array.from(ids)).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2]);
  });
  it('text ids are zero', () => {
    expect(Array.from(textIds(2))).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
