/** The published FLUX.2 [klein] 4B and Z-Image-Turbo shapes the catalog plans with, against the real checkpoints' headers (test/convert's fixtures). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qwen3Shapes } from '../../runtime/convert/qwen3.ts';
import { QWEN3_4B, publishedKleinShapes, publishedZImageShapes } from '../../runtime/memory/qwen3-families-published.ts';
import { fluxVaeShapes } from '../../runtime/memory/flux1-published.ts';
import { elementsOf } from '../../runtime/memory/weights.ts';
import { KLEIN_FIXTURES } from '../convert/helpers/klein-fixtures.ts';
import { ZIMAGE_FIXTURES } from '../convert/helpers/zimage-fixtures.ts';

type Shapes = Record<string, number[]>;
const read = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;
const klein = read<{ transformer: Shapes; qwen3: Shapes; vae: Shapes }>(join(KLEIN_FIXTURES, 'full-size-shapes.json'));
const zimage = read<Shapes>(join(ZIMAGE_FIXTURES, 'z-image-turbo-shapes.json'));
const params = (shapes: Shapes) => Object.values(shapes).reduce((n, shape) => n + elementsOf(shape), 0);
/** Decoder layers a Qwen3 key list holds. */
const layers = (shapes: Shapes) => new Set(Object.keys(shapes).map((key) => /^model\.layers\.(\d+)\./.exec(key)?.[1]).filter(Boolean)).size;

describe('FLUX.2 [klein] 4B and Z-Image-Turbo at their published sizes', () => {
  it('the transformers match flux-2-klein-4b.safetensors and z_image_turbo_bf16.safetensors key by key, at their published parameter counts', () => {
    expect(publishedKleinShapes().transformer).toEqual(klein.transformer);
    expect(publishedZImageShapes().transformer).toEqual(zimage);
    expect(params(klein.transformer) / 1e9).toBeCloseTo(3.88, 2);
    expect(params(zimage) / 1e9).toBeCloseTo(6.15, 2);
  });

  it('Qwen3-4B is the published checkpoint, and each family keeps the layers its hidden states need', () => {
    expect(Object.fromEntries(qwen3Shapes(QWEN3_4B))).toEqual(klein.qwen3);
    expect(params(klein.qwen3) / 1e9).toBeCloseTo(4.02, 2);
    for (const [family, kept] of [[publishedKleinShapes().qwen3, 27], [publishedZImageShapes().qwen3, 35]] as const) {
      // hidden state 27 (klein's deepest) is layer 26's output; Z-Image's −2 is layer 34's: the final norm is read by neither
      expect(layers(family)).toBe(kept);
      expect(family).not.toHaveProperty(['model.norm.weight']);
      for (const [key, shape] of Object.entries(family)) expect(klein.qwen3[key], key).toEqual(shape);
    }
  });

  it('klein reads flux2-vae.safetensors, Z-Image FLUX.1 ae.safetensors', () => {
    const { 'bn.num_batches_tracked': counter, ...vae } = klein.vae;
    expect(counter).toEqual([]); // a scalar step counter, not a weight
    expect(publishedKleinShapes().vae).toEqual(vae);
    expect(publishedZImageShapes().vae).toEqual(fluxVaeShapes());
  });
});
