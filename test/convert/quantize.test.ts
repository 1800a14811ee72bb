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

  it('leaves img_in, txt_in, the embedders and final_layer (BFL and diffusers names) in their stored type', () => {
    for (const key of ['img_in.weight', 'txt_in.weight', 'time_in.in_layer.weight', 'vector_in.out_layer.weight', 'guidance_in.in_layer.weight', 'final_layer.linear.weight', 'x_embedder.weight', 'proj_out.weight']) {
      expect(keepsStoredType(key)).toBe(true);
    }
    for (const key of ['double_blocks.0.img_attn.qkv.weight', 'single_blocks.3.linear2.weight', 'transformer_blocks.0.attn.to_q.weight']) expect(keepsStoredType(key)).toBe(false);
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
