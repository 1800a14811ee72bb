// city96-style GGUF transformers of FLUX.2 [klein] and Z-Image (ComfyUI's key names, mixed block
// types: test/convert/reference-gguf/make_family_fixtures.py) through `dype convert`'s family
// recipes, against each family's torch reference computed from the dequantized weights.
import { readFileSync, rmSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCheckpoints } from '../../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../../runtime/convert/source.ts';
import { deriveZImageConfig } from '../../runtime/convert/zimage.ts';
import { deriveFlux2Config } from '../../runtime/convert/flux2.ts';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { readBundle } from '../../runtime/pipeline/index.ts';
import { maxAbs, maxAbsDiff } from '../helpers/compare.ts';
import { GGUF_FIXTURES, tempRoot } from './helpers/flux-fixtures.ts';
import { KLEIN_FIXTURES, KLEIN_REFERENCE, KLEIN_TRANSFORMER, runKlein } from './helpers/klein-fixtures.ts';
import { writeKleinModels } from './helpers/klein-models.ts';
import { runZImage, writeZImageModels, ZIMAGE_CHECKPOINT, ZIMAGE_REFERENCE as REF, LARGE_IMAGE_AE } from './helpers/zimage-fixtures.ts';

interface FamiliesReference {
  'flux-2-klein-4b-mixed.gguf': { types: Record<string, string>; native: number[]; dype: number[] };
  'z-image-turbo-mixed.gguf': { types: Record<string, string>; dype: number[] };
}
const REFERENCE = JSON.parse(readFileSync(join(GGUF_FIXTURES, 'families-reference.json'), 'utf8')) as FamiliesReference;

const { root, cleanup } = tempRoot('dype-gguf-families-');
afterAll(cleanup);

/**
 * dype convert gives 8-bit blocks accuracy_level 4 (int8 activations on CPU): each product within
 * 2⁻⁸ of its scale (gguf.test.ts), and the errors of the products in series add up: klein's toy
 * model has 10 (embedder, 2 double blocks × 2, 2 single blocks × 2, final layer), Z-Image's 14
 * (embedder, 3 blocks × attention 2 and feed-forward 2, final layer).
 */
const INT8_RELATIVE = { klein: 10 / 256, zimage: 14 / 256 };

/** Derives a family's config from the safetensors twin's header (same shapes as the GGUF). */
async function configOf<C>(file: string, derive: (w: SafetensorsWeightSource) => C): Promise<C> {
  const header = await readSafetensorsHeader(file);
  return derive(new SafetensorsWeightSource(new GraphBuilder('shapes'), [{ header, location: 'x' }], file));
}

/** Swaps the models folder's diffusion model for the GGUF file; returns the converted bundle. */
async function convertWithGguf(models: string, safetensors: string, gguf: string, tokenizers: string) {
  rmSync(join(models, 'diffusion_models', safetensors));
  cpSync(join(GGUF_FIXTURES, gguf), join(models, 'diffusion_models', gguf));
  const bundle = join(root, gguf);
  const report = await convertCheckpoints([models], { output: bundle, tokenizers, hubCache: null });
  return { bundle, report, read: readBundle(bundle) };
}

const quantizedTypes = (types: Record<string, string>) => [...new Set(Object.values(types).filter((t) => t.startsWith('Q')))].sort();

describe('GGUF transformers of the other families', () => {
  it('FLUX.2 [klein]: the recipe takes the GGUF file, and its graph equals the torch reference on the dequantized weights', async () => {
    const written = writeKleinModels(join(root, 'klein'));
    const { bundle, report, read } = await convertWithGguf(written.models, 'flux-2-klein-4b.safetensors', 'flux-2-klein-4b-mixed.gguf', written.tokenizers);
    expect(report.family).toBe('flux2');
    const transformer = report.components.find((c) => c.kind === 'transformer')!;
    for (const type of quantizedTypes(REFERENCE['flux-2-klein-4b-mixed.gguf'].types)) expect(transformer.quantization).toContain(type);
    expect(read.halfTransformer).toBeNull(); // MatMulNBits blocks serve every provider
    const config = await configOf(KLEIN_TRANSFORMER, deriveFlux2Config);
    for (const rope of ['native', 'dype'] as const) {
      const reference = REFERENCE['flux-2-klein-4b-mixed.gguf'][rope];
      const out = await runKlein(join(bundle, 'transformer', 'model.onnx'), config, rope);
      const relative = maxAbsDiff(out, reference) / maxAbs(reference);
      console.log(`klein GGUF ${rope}: max error ${(100 * relative).toFixed(3)}% of the output range`);
      expect(relative).toBeLessThan(INT8_RELATIVE.klein);
      // the blocks' own rounding: far from the unquantized model's output
      const unquantized = KLEIN_REFERENCE.transformer.outputs['flux-2-klein-4b.safetensors'][rope];
      expect(maxAbsDiff(out, unquantized) / maxAbs(reference)).toBeGreaterThan(2 * relative);
    }
  });

  it('Z-Image: the recipe takes the GGUF file (K-quants and 32-blocks), and its graph equals the torch reference on the dequantized weights', async () => {
    const dir = join(root, 'zimage');
    writeZImageModels(join(dir, 'models'), LARGE_IMAGE_AE);
    const { bundle, report, read } = await convertWithGguf(join(dir, 'models'), 'z_image_turbo_bf16.safetensors', 'z-image-turbo-mixed.gguf', KLEIN_FIXTURES);
    expect(report.family).toBe('zimage');
    const transformer = report.components.find((c) => c.kind === 'transformer')!;
    for (const type of quantizedTypes(REFERENCE['z-image-turbo-mixed.gguf'].types)) expect(transformer.quantization).toContain(type);
    expect(read.halfTransformer).toBeNull();
    const config = await configOf(ZIMAGE_CHECKPOINT, deriveZImageConfig);
    const reference = REFERENCE['z-image-turbo-mixed.gguf'].dype.map((x) => -x); // the graph gives the velocity
    const out = await runZImage(join(bundle, 'transformer', 'model.onnx'), config, REF.cases.padded, REF.sigma, REF.rope.dype);
    const relative = maxAbsDiff(out, reference) / maxAbs(reference);
    console.log(`Z-Image GGUF dype: max error ${(100 * relative).toFixed(3)}% of the output range`);
    expect(relative).toBeLessThan(INT8_RELATIVE.zimage);
    expect(maxAbsDiff(out, REF.outputs.dype.map((x) => -x)) / maxAbs(reference)).toBeGreaterThan(2 * relative);
  });
});
