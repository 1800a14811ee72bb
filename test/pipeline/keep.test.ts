import { describe, expect, it } from 'vitest';
import { axisKeepWeight, blendTowardInit, compositeKept, latentKeepMask } from '../../runtime/pipeline/keep.ts';
import { keepOnCanvas, planSize } from '../../runtime/pipeline/pipeline.ts';

describe('keep weights', () => {
  it('ramp linearly over the feather inside an inner edge, and not at the frame border', () => {
    // rectangle [100, 300) on a 400-px axis, feather 10: ramp at 100, none at... 300 is inner too
    expect(axisKeepWeight(99, 100, 300, 10, 400)).toBe(0);
    expect(axisKeepWeight(100, 100, 300, 10, 400)).toBeCloseTo(0.05, 12);
    expect(axisKeepWeight(104, 100, 300, 10, 400)).toBeCloseTo(0.45, 12);
    expect(axisKeepWeight(110, 100, 300, 10, 400)).toBe(1);
    expect(axisKeepWeight(299, 100, 300, 10, 400)).toBeCloseTo(0.05, 12);
    // on the border: full weight to the very edge
    expect(axisKeepWeight(0, 0, 300, 10, 400)).toBe(1);
    expect(axisKeepWeight(399, 100, 400, 10, 400)).toBe(1);
    // feather 0: a hard edge
    expect(axisKeepWeight(100, 100, 300, 0, 400)).toBe(1);
    expect(axisKeepWeight(300, 100, 300, 0, 400)).toBe(0);
  });

  it('latent mask is the block mean of the pixel weights', () => {
    // 4×4 latent px of 2×2 px; kept columns [3, 8) with no feather: latent column 1 is half kept
    const mask = latentKeepMask({ x: 3, y: 0, width: 5, height: 8, feather: 0 }, 4, 4, 2);
    expect(Array.from(mask.subarray(0, 4))).toEqual([0, 0.5, 1, 1]);
  });

  it('composite: exact init where the weight is 1, untouched where 0, mixed in the band', () => {
    const [w, h] = [8, 1];
    const generated = new Uint8Array(w * h * 3).fill(0);
    const init = new Uint8Array(w * h * 3).fill(200);
    compositeKept(generated, init, w, h, { x: 2, y: 0, width: 6, height: 1, feather: 2 });
    expect(Array.from(generated.filter((_, i) => i % 3 === 0))).toEqual([0, 0, 50, 150, 200, 200, 200, 200]);
  });

  it('blend moves kept elements onto the init trajectory at σ', () => {
    const x = Float32Array.of(5, 5, 5);
    blendTowardInit(x, Float32Array.of(1, 1, 1), Float32Array.of(-1, -1, -1), Float32Array.of(0, 0.5, 1), 0.25);
    // target = 0.75·1 + 0.25·(−1) = 0.5
    expect(Array.from(x)).toEqual([5, 2.75, 0.5]);
  });

  it('on the generated canvas an output-border edge stays a border', () => {
    const plan = planSize(1000, 1000, 64); // 1024² canvas, crop at (12, 12)
    expect(keepOnCanvas({ x: 0, y: 100, width: 500, height: 900, feather: 8 }, plan)).toEqual({ x: 0, y: 112, width: 512, height: 912, feather: 8 });
  });
});
