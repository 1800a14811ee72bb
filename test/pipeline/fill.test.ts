// FLUX Fill: detected from the transformer's hidden_states width, fed the masked image and the mask.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DIMS } from '../../runtime/demo/index.ts';
import { fillMaskFeatures, packedFillMask, transformerKind } from '../../runtime/pipeline/fill.ts';
import { loadPipeline, type Pipeline } from '../../runtime/pipeline/index.ts';
import { unpackLatents } from '../../runtime/pipeline/latents.ts';
import { tempDemoBundle } from '../helpers/demo.ts';

describe('Fill feed layout', () => {
  it('tells plain and Fill transformers apart by the width of hidden_states', () => {
    // FLUX.1: 16 latent channels, 2×2 patches, VAE ×8: 64 plain; Fill 64 + 64 + 256 = 384 (FLUX.1-Fill-dev's in_channels)
    expect(transformerKind(64, 64, 8, 2)).toBe('plain');
    expect(transformerKind(384, 64, 8, 2)).toBe('fill');
    expect(transformerKind(128, 64, 8, 2)).toBeNull();
    expect(fillMaskFeatures(8, 2)).toBe(256);
  });

  it('folds the pixel mask space-to-depth (channel dy·f + dx), then packs it like the latents', () => {
    const f = 4;
    const latent = { height: 2, width: 4 };
    // keep pixels x ≥ 6 (inside latent column 1, at dx = 2), all rows
    const packed = packedFillMask({ x: 6, y: 0, width: 10, height: 8, feather: 0 }, latent, f, 2);
    const mask = unpackLatents(packed, { channels: f * f, ...latent }, 2);
    const at = (dy: number, dx: number, y: number, x: number) => mask[(dy * f + dx) * 8 + y * 4 + x];
    expect(at(0, 0, 0, 0)).toBe(1); // pixel x 0: drawn
    expect(at(3, 1, 1, 1)).toBe(1); // pixel x 5: drawn
    expect(at(0, 2, 0, 1)).toBe(0); // pixel x 6: kept
    expect(at(2, 3, 1, 3)).toBe(0); // pixel x 15: kept
    expect(Array.from(packedFillMask(null, latent, f, 2)).every((v) => v === 1)).toBe(true);
  });
});

describe('a Fill transformer end to end (demo graph with the extra channels)', () => {
  let bundle: { dir: string; cleanup: () => void };
  let pipeline: Pipeline;
  beforeAll(async () => {
    bundle = await tempDemoBundle({ fill: true });
    pipeline = await loadPipeline(bundle.dir, { device: 'cpu' });
  });
  afterAll(async () => {
    await pipeline?.dispose();
    bundle?.cleanup();
  });

  it('is detected, and fed [latent | masked-image latent | mask] per token; kept pixels stay exact', async () => {
    expect(pipeline.info.fill).toBe(true);
    const px = Buffer.alloc(256 * 256 * 3);
    for (let i = 0; i < px.length; i++) px[i] = 40 + ((i * 13) % 170);
    const init = await sharp(px, { raw: { width: 256, height: 256, channels: 3 } }).png().toBuffer();
    const keep = { x: 256, y: 0, width: 256, height: 256, feather: 0 };
    const F = DEMO_DIMS.imageFeatures;
    const M = fillMaskFeatures(DEMO_DIMS.vaeScale, DEMO_DIMS.patchSize);
    let hidden: Float32Array | null = null;
    const result = await pipeline.generate(
      { prompt: 'extend', width: 512, height: 256, seed: 1, steps: 2, init: { bytes: init, id: 'x' }, keep },
      { onEvent: (e) => e.kind === 'step' && e.step === 1 && (hidden = Float32Array.from(e.feeds.hidden_states.data as Float32Array)) },
    );
    expect(hidden).not.toBeNull();
    const h = hidden as unknown as Float32Array;
    const tokens = (256 / 64) * (512 / 64); // 4 rows × 8 columns
    expect(h.length).toBe(tokens * (2 * F + M));
    const token = (row: number, col: number) => h.subarray((row * 8 + col) * (2 * F + M), (row * 8 + col + 1) * (2 * F + M));
    // columns 0–3 are drawn (mask 1, masked image mid grey), 4–7 kept (mask 0, the init's latent)
    for (const col of [0, 3]) expect(Array.from(token(1, col).subarray(2 * F)).every((v) => v === 1)).toBe(true);
    for (const col of [4, 7]) expect(Array.from(token(1, col).subarray(2 * F)).every((v) => v === 0)).toBe(true);
    const grey = Array.from(token(0, 0).subarray(F, 2 * F));
    expect(Array.from(token(2, 1).subarray(F, 2 * F))).toEqual(grey); // every drawn token: the same grey latent
    expect(Array.from(token(2, 5).subarray(F, 2 * F))).not.toEqual(grey);
    const out = await sharp(result.image).raw().toBuffer();
    for (let y = 0; y < 256; y++) expect(out.subarray((y * 512 + 256) * 3, (y * 512 + 512) * 3).equals(px.subarray(y * 256 * 3, (y + 1) * 256 * 3))).toBe(true);
  });

  it('also generates from text alone (all drawn)', async () => {
    const result = await pipeline.generate({ prompt: 'text only', width: 256, height: 256, seed: 2, steps: 1 });
    expect((await sharp(result.image).metadata()).width).toBe(256);
  });
});
