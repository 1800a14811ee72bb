import { describe, expect, it } from 'vitest';
import { targetPixelSize } from '../../plugin/defaults.ts';

const LIMITS = { minSide: 64, maxSide: 8192, maxPixels: 32 * 1024 * 1024 };

describe('targetPixelSize', () => {
  it('multiplies the frame size by the density and rounds', () => {
    expect(targetPixelSize(1440, 900, { kind: 'scale', scale: 2 }, LIMITS)).toEqual({ width: 2880, height: 1800, clamped: false });
    expect(targetPixelSize(100.4, 50.6, { kind: 'scale', scale: 3 }, LIMITS)).toEqual({ width: 301, height: 152, clamped: false });
  });

  it('scales the longest side to N px', () => {
    expect(targetPixelSize(1920, 1080, { kind: 'longest', px: 4096 }, LIMITS)).toEqual({ width: 4096, height: 2304, clamped: false });
    expect(targetPixelSize(300, 600, { kind: 'longest', px: 1000 }, LIMITS)).toEqual({ width: 500, height: 1000, clamped: false });
  });

  it('shrinks to the largest side and pixel count the companion allows, keeping the aspect', () => {
    const big = targetPixelSize(4000, 2000, { kind: 'scale', scale: 4 }, LIMITS);
    expect(big).toEqual({ width: 8192, height: 4096, clamped: true });
    const many = targetPixelSize(3000, 3000, { kind: 'scale', scale: 3 }, { ...LIMITS, maxPixels: 4096 * 4096 });
    expect(many).toEqual({ width: 4096, height: 4096, clamped: true });
  });

  it('grows tiny frames to the minimum side', () => {
    expect(targetPixelSize(20, 10, { kind: 'scale', scale: 1 }, LIMITS)).toEqual({ width: 128, height: 64, clamped: true });
    // beyond 128:1 the aspect cannot be kept; both sides stay in range
    const thin = targetPixelSize(10000, 1, { kind: 'scale', scale: 1 }, LIMITS);
    expect(thin.width).toBeLessThanOrEqual(8192);
    expect(thin.height).toBe(64);
  });
});
