import { describe, expect, it } from 'vitest';
import { axisWeights, decodeTiled, tileSpans, type DecodeTile } from '../../runtime/pipeline/decode.ts';

/** A position-independent per-pixel "decoder": upsample ×s and mix channels with tanh. */
function pointwiseDecoder(channels: number, scale: number): DecodeTile {
  return async (latent, h, w) => {
    const W = w * scale;
    const H = h * scale;
    const out = new Float32Array(3 * H * W);
    for (let k = 0; k < 3; k++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          let v = 0;
          for (let c = 0; c < channels; c++) v += latent[c * h * w + Math.floor(y / scale) * w + Math.floor(x / scale)] * (k + 1) * (c % 2 ? -0.3 : 0.5);
          out[k * H * W + y * W + x] = Math.tanh(v);
        }
      }
    }
    return out;
  };
}

const latentOf = (c: number, h: number, w: number) => Float32Array.from({ length: c * h * w }, (_, i) => Math.sin(i * 0.37) * 1.5);

describe('tile layout', () => {
  const starts = (length: number, tile: number, overlap: number) => tileSpans(length, tile, overlap).map((s) => [s.start, s.size]);
  it('covers the axis with neighbours sharing exactly the overlap, the last tile shortened', () => {
    expect(starts(10, 16, 4)).toEqual([[0, 10]]);
    expect(starts(40, 16, 4)).toEqual([[0, 16], [12, 16], [24, 16]]);
    expect(starts(30, 16, 4)).toEqual([[0, 16], [12, 16], [24, 6]]);
  });
  it('rejects an overlap beyond half the tile (three tiles would share pixels)', () => {
    expect(() => tileSpans(40, 8, 8)).toThrow(/at most half/);
    expect(() => tileSpans(40, 24, 16)).toThrow(/at most half/);
    expect(tileSpans(40, 24, 12).length).toBe(3);
  });
  it('neighbour weights sum to 1 across the overlap, with zero weight inside the margin', () => {
    const a = axisWeights(16, 0, 8, 2);
    const b = axisWeights(16, 8, 0, 2);
    for (let k = 0; k < 8; k++) expect(a[8 + k] + b[k]).toBeCloseTo(1, 6);
    expect([b[0], b[1], a[15], a[14]]).toEqual([0, 0, 0, 0]);
    expect(b[7]).toBe(1);
  });
});

describe('tiled decode with linear blending', () => {
  it('equals whole decode exactly for a position-independent decoder (weights sum to 1)', async () => {
    const shape = { channels: 4, height: 23, width: 37 };
    const latent = latentOf(4, 23, 37);
    const decoder = pointwiseDecoder(4, 4);
    const whole = await decodeTiled(latent, shape, 4, { tile: 64, overlap: 8 }, decoder);
    let tiles = 0;
    const tiled = await decodeTiled(latent, shape, 4, { tile: 10, overlap: 3 }, decoder, (_done, total) => (tiles = total));
    expect(tiles).toBe(3 * 5); // rows 0,7,14 × columns 0,7,14,21,28
    let maxDiff = 0;
    for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[i] - tiled[i]));
    expect(maxDiff).toBeLessThanOrEqual(1); // one 8-bit level of float rounding
    expect(whole.length).toBe(23 * 4 * 37 * 4 * 3);
  });

  it('blends seams: a decoder that depends on the tile gives a gradual transition, not a step', async () => {
    // Each tile decodes to a constant equal to its own call index: blending must ramp between them.
    let call = 0;
    const constant: DecodeTile = async (_l, h, w) => new Float32Array(3 * h * 2 * w * 2).fill(call++ === 0 ? -1 : 1);
    const rgb = await decodeTiled(latentOf(1, 8, 20), { channels: 1, height: 8, width: 20 }, 2, { tile: 12, overlap: 4, margin: 0 }, constant);
    const row = Array.from({ length: 40 }, (_, x) => rgb[x * 3]);
    expect(row[0]).toBe(0);
    expect(row[39]).toBe(255);
    const steps = row.slice(1).map((v, i) => Math.abs(v - row[i]));
    expect(Math.max(...steps)).toBeLessThan(64); // no hard seam
  });
});
