// `dype convert --quantize q8|q4`: the toy FLUX.1 checkpoints (bf16, f16, fp8 with ComfyUI's
// per-tensor scales) block-quantized at conversion, against their unquantized graphs' torch
// reference (test/convert/reference-transformer). The error is quantization error, so the bounds
// come from the block formats, and the figures are printed for the README.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dequantizeBlocks, quantizeBlocks } from '../../runtime/convert/gguf/repack.ts';
import { keepsStoredType } from '../../runtime/convert/quantize.ts';
import { PACKED_WEIGHTS_FILE } from '../../runtime/convert/packed-weights.ts';
import { FLUX_FIXTURES, FLUX_REFERENCE, convertTransformer, maxAbsDiff, runOnReference, tempRoot } from './helpers/flux-fixtures.ts';
import { maxAbs } from '../helpers/compare.ts';
import { convertKlein, runKlein } from './helpers/klein-fixtures.ts';
import { convertZImage, runZImage, ZIMAGE_REFERENCE } from './helpers/zimage-fixtures.ts';

const { root, cleanup } = tempRoot('dype-quantize-');
afterAll(cleanup);

/**
 * Output error relative to the output's range. Round-to-nearest in blocks of 32 puts each weight
 * within half a step of itself: 1/254 of the block's largest magnitude at 8 bits, 1/16 at 4 bits;
 * over a dot product the independent errors add in quadrature, which keeps each product within
 * about a quarter of that. The bounds allow that through the model's 10 products in series.
 */
const BOUND = { q8: 0.02, q4: 0.25 } as const;

describe('--quantize', () => {
  it.each([
    ['flux-dev-bf16.safetensors', 'q8'],
    ['flux-dev-bf16.safetensors', 'q4'],
    ['flux-dev-f16.safetensors', 'q8'],
    ['flux-dev-fp8.safetensors', 'q8'],
    ['flux-dev-fp8.safetensors', 'q4'],
  ] as const)('%s at %s stays within the block format’s error of the unquantized graph', async (file, mode) => {
    const dir = join(root, `${file}-${mode}`);
    const { path, config, quantized } = await convertTransformer([join(FLUX_FIXTURES, file)], dir, 'bfl', 'float32', mode);
    // Every block Linear is quantized (2 double blocks × 2 streams × 5, 2 single blocks × 3); the embedders and final_layer are not.
    expect(quantized?.tensors).toBe(2 * 2 * 5 + 2 * 3);
    expect(statSync(join(dir, PACKED_WEIGHTS_FILE)).size).toBe(quantized?.packedBytes);
    const reference = FLUX_REFERENCE.outputs[file];
    for (const rope of ['native', 'dype'] as const) {
      const relative = maxAbsDiff(await runOnReference(path, config, rope), reference[rope]) / maxAbs(reference[rope]);
      console.log(`--quantize ${mode} ${file} ${rope}: max error ${(100 * relative).toFixed(2)}% of the output range`);
      expect(relative).toBeLessThan(BOUND[mode]);
    }
  });

  it('leaves img_in, txt_in, the embedders and final_layer (BFL, diffusers and Z-Image names) in their stored type', () => {
    const zimage = ['cap_embedder.1.weight', 't_embedder.mlp.0.weight', 't_embedder.mlp.2.weight'];
    for (const key of ['img_in.weight', 'txt_in.weight', 'time_in.in_layer.weight', 'vector_in.out_layer.weight', 'guidance_in.in_layer.weight', 'final_layer.linear.weight', 'x_embedder.weight', 'proj_out.weight', ...zimage]) {
      expect(keepsStoredType(key)).toBe(true);
    }
    const blocks = ['double_blocks.0.img_attn.qkv.weight', 'single_blocks.3.linear2.weight', 'transformer_blocks.0.attn.to_q.weight', 'double_stream_modulation_img.lin.weight', 'layers.0.attention.qkv.weight', 'noise_refiner.0.adaLN_modulation.0.weight'];
    for (const key of blocks) expect(keepsStoredType(key)).toBe(false);
  });

  // 8 bits: within half a step everywhere. 4 bits (Q4_0's form): the extreme takes code 0, so the
  // other side has 7 steps and its largest values clip to within one step.
  it.each([[8, 0.5], [4, 1]] as const)('rounds each weight to its block’s nearest code at %i bits: within %f step', (bits, steps) => {
    const values = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
    const blocks = quantizeBlocks(values, 4, 64, bits);
    const back = dequantizeBlocks(blocks);
    let worst = 0;
    for (let g = 0; g < blocks.scales.length; g++) {
      for (let j = g * 32; j < (g + 1) * 32; j++) worst = Math.max(worst, Math.abs(back[j] - values[j]) / Math.abs(blocks.scales[g]));
    }
    expect(worst).toBeLessThanOrEqual(steps + 1e-6);
    expect(worst).toBeGreaterThan(0.3); // the values really fall between codes
  });
});

/** Relative max error of `out` against `reference`, printed for the README. */
function reportError(what: string, out: ArrayLike<number>, reference: ArrayLike<number>): number {
  const relative = maxAbsDiff(out, reference) / maxAbs(reference);
  console.log(`--quantize ${what}: max error ${(100 * relative).toFixed(2)}% of the output range against the unquantized graph`);
  return relative;
}

describe('--quantize on the other families’ transformers, against their unquantized graphs', () => {
  it.each(['q8', 'q4'] as const)('FLUX.2 [klein] at %s: every block Linear and the shared modulations quantized, within the block format’s error', async (mode) => {
    const full = await convertKlein(join(root, `klein-${mode}-f32`));
    const packed = await convertKlein(join(root, `klein-${mode}`), undefined, 'float32', mode);
    const c = packed.config;
    // 4 per stream of each double block, 2 per single block, the 3 shared modulations; img_in, txt_in, time_in, final_layer kept
    expect(packed.quantized?.tensors).toBe(2 * 4 * c.depth + 2 * c.depthSingle + 3);
    for (const rope of ['native', 'dype'] as const) {
      const relative = reportError(`${mode} klein ${rope}`, await runKlein(packed.path, c, rope), await runKlein(full.path, full.config, rope));
      expect(relative).toBeLessThan(BOUND[mode]);
      expect(relative).toBeGreaterThan(0);
    }
  });

  it.each(['q8', 'q4'] as const)('Z-Image at %s: every block Linear and block modulation quantized, within the block format’s error', async (mode) => {
    const full = await convertZImage(join(root, `zimage-${mode}-f32`));
    const packed = await convertZImage(join(root, `zimage-${mode}`), undefined, 'float32', mode);
    const { blocks } = packed.config;
    // qkv, out, w1, w2, w3 per block, adaLN_modulation per modulated block; x/cap/t_embedder, final_layer kept
    expect(packed.quantized?.tensors).toBe(5 * (blocks.noise_refiner + blocks.context_refiner + blocks.layers) + blocks.noise_refiner + blocks.layers);
    const rope = ZIMAGE_REFERENCE.rope.dype;
    const run = (path: string) => runZImage(path, packed.config, ZIMAGE_REFERENCE.cases.padded, ZIMAGE_REFERENCE.sigma, rope);
    const relative = reportError(`${mode} Z-Image dype`, await run(packed.path), await run(full.path));
    expect(relative).toBeLessThan(BOUND[mode]);
    expect(relative).toBeGreaterThan(0);
  });
});
