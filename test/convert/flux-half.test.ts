// The float16 FLUX.1 transformer graph (what CUDA, DirectML, CoreML and WebGPU with shader-f16 load)
// against the torch reference, which computes in float32 from the same stored weights. On the CPU
// provider onnxruntime runs float16 graphs by casting around kernels that lack float16 (MatMul,
// MultiHeadAttention, …), so every value between ops is rounded to float16 as on a GPU, while the
// arithmetic inside an op is float32: this checks the graph's float16 rounding, not a GPU's kernels
// (scripts/gpu-check does that on a lent GPU).
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLUX_FIXTURES, FLUX_REFERENCE, convertTransformer, maxAbsDiff, runOnReference, tempRoot } from './helpers/flux-fixtures.ts';
import { maxAbs } from '../helpers/compare.ts';

const { root, cleanup } = tempRoot('dype-convert-flux-half-');
afterAll(cleanup);

/**
 * float16 keeps 11 significant bits: each rounding moves a value by at most u = 2⁻¹¹ of itself. A
 * value reaching the output passes ~40 roundings in this 2 + 2 block model (per block: modulation,
 * norm, projection, attention, MLP, gated residual). Independent roundings add like a random walk,
 * √40 ≈ 6.3 of them, so the output stays within 8·u of its own scale (≈ 0.4 %); float32's 1e-4 would
 * be 10× too tight for float16, and a float16 region that lost a value (an angle, a norm statistic)
 * would be off by far more than 8·u. Measured: 0.9–1.4·u of the output's scale.
 */
const UNIT_ROUNDOFF = 2 ** -11;
const ROUNDINGS_RANDOM_WALK = 8;

describe('FLUX.1 transformer in float16', () => {
  it.each([
    ['flux-dev-f16.safetensors', 'F16', 0],
    ['flux-dev-bf16.safetensors', 'BF16', 84],
  ] as const)('%s: float16 activations stay within float16 rounding of the float32 reference, native and DyPE', async (file, dtype, casts) => {
    const half = await convertTransformer([join(FLUX_FIXTURES, file)], join(root, file), 'bfl', 'float16');
    // float16 weights are used as stored (no float32 copy: half the memory); bf16 ones get a Cast to float16.
    expect(half.dtypes[dtype]?.cast).toBe(casts);
    const reference = FLUX_REFERENCE.outputs[file];
    for (const rope of ['native', 'dype'] as const) {
      const out = await runOnReference(half.path, half.config, rope);
      const err = maxAbsDiff(out, reference[rope]);
      expect(err).toBeLessThan(ROUNDINGS_RANDOM_WALK * UNIT_ROUNDOFF * maxAbs(reference[rope]));
      expect(err).toBeGreaterThan(0); // it really computed in float16
    }
  });
});
