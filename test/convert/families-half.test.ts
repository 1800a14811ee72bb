// The float16 transformer graphs of FLUX.2 [klein] and Z-Image (model.fp16.onnx, for GPU providers)
// against their torch float32 references, as flux-half.test.ts checks FLUX.1's: on the CPU provider
// every value between ops is rounded to float16 as on a GPU, so this checks the graph's float16
// rounding (and the float32 regions dit.ts keeps), not a GPU's kernels.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ZIMAGE_DEFAULTS as ZIMAGE_ROPE } from '../../runtime/bundle/zimage.ts';
import { fluxRopeFrequencies } from '../../runtime/dype/index.ts';
import { readModel } from '../../runtime/onnx/graph.ts';
import { DataType } from '../../runtime/onnx/proto.ts';
import { maxAbs, maxAbsDiff } from '../helpers/compare.ts';
import { tempRoot } from './helpers/flux-fixtures.ts';
import { convertKlein, KLEIN_REFERENCE, runKlein } from './helpers/klein-fixtures.ts';
import { convertZImage, runZImage, ZIMAGE_REFERENCE as REF } from './helpers/zimage-fixtures.ts';

const { root, cleanup } = tempRoot('dype-convert-families-half-');
afterAll(cleanup);

/**
 * flux-half.test.ts's bound: float16's unit roundoff u = 2⁻¹¹ per rounding, ~40 roundings on the
 * way to the output adding like a random walk (√40 ≈ 6.3), so within 8·u of the output's scale.
 * Both toy models have the same depth as FLUX.1's (2 + 2 klein blocks; 2 + 2 refiner blocks and
 * 2 layers for Z-Image, each with its sandwich norms) and so about as many roundings per path.
 */
const BOUND = 8 * 2 ** -11;

describe('float16 transformer graphs of the other families', () => {
  it('FLUX.2 [klein]: within float16 rounding of the float32 reference, native and DyPE', async () => {
    const half = await convertKlein(join(root, 'klein'), undefined, 'float16');
    expect(half.dtypes.BF16?.cast).toBeGreaterThan(0); // bf16 weights cast to float16, not widened
    for (const rope of ['native', 'dype'] as const) {
      const reference = KLEIN_REFERENCE.transformer.outputs['flux-2-klein-4b.safetensors'][rope];
      const err = maxAbsDiff(await runKlein(half.path, half.config, rope), reference);
      console.log(`klein float16 ${rope}: max error ${(err / maxAbs(reference) / 2 ** -11).toFixed(2)}·u of the output's scale`);
      expect(err).toBeLessThan(BOUND * maxAbs(reference));
      expect(err).toBeGreaterThan(0); // it really computed in float16
    }
  });

  it('Z-Image: within float16 rounding of the float32 reference, native and DyPE, with pad rows', async () => {
    const half = await convertZImage(join(root, 'zimage'), undefined, 'float16');
    const native = fluxRopeFrequencies(REF.cases.padded.grid, REF.sigma, { method: 'base', dynamic: false, theta: ZIMAGE_ROPE.theta, axesDim: [...ZIMAGE_ROPE.axesDim] });
    for (const [rope, feed] of [['native', native], ['dype', REF.rope.dype]] as const) {
      const reference = REF.outputs[rope].map((x) => -x); // the graph gives the velocity, the negated model output
      const err = maxAbsDiff(await runZImage(half.path, half.config, REF.cases.padded, REF.sigma, feed), reference);
      console.log(`Z-Image float16 ${rope}: max error ${(err / maxAbs(reference) / 2 ** -11).toFixed(2)}·u of the output's scale`);
      expect(err).toBeLessThan(BOUND * maxAbs(reference));
      expect(err).toBeGreaterThan(0);
    }
  });

  // onnxruntime's CPU provider fuses an RMSNorm into one float32 kernel and drops paired Casts, so a
  // float16 norm statistic would not show in the numbers above; on a GPU x² overflows past |x| = 256.
  // Every RMSNorm statistic of the float16 graphs (Z-Image's sandwich and caption norms, both
  // families' q/k norms) must square a value just cast to float32, and every residual add saturate.
  it.each([
    // q and k per stream of each double block and per single block
    ['FLUX.2 [klein]', async () => {
      const { path, config: c } = await convertKlein(join(root, 'klein-norms'), undefined, 'float16');
      return { path, norms: 2 * (2 * c.depth + c.depthSingle), residuals: 2 * 2 * c.depth + c.depthSingle };
    }],
    // the caption's, then q, k and the four sandwich norms per block
    ['Z-Image', async () => {
      const { path, config: c } = await convertZImage(join(root, 'zimage-norms'), undefined, 'float16');
      const blocks = Object.values(c.blocks).reduce((a, n) => a + n, 0);
      return { path, norms: 1 + 6 * blocks, residuals: 2 * blocks };
    }],
  ] as const)('%s: every RMSNorm statistic is computed in float32, every residual add is clamped', async (_name, convert) => {
    const { path, norms, residuals } = await convert();
    const { graph } = readModel(path);
    const producer = new Map(graph.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
    const statistics = graph.node.filter((n) => n.opType === 'ReduceMean');
    expect(statistics).toHaveLength(norms);
    for (const mean of statistics) {
      const square = producer.get(mean.input[0]);
      expect(square?.opType).toBe('Mul');
      const cast = producer.get(square!.input[0]);
      expect(cast?.opType).toBe('Cast');
      expect(cast?.attribute.find((a) => a.name === 'to')?.i).toBe(BigInt(DataType.FLOAT));
    }
    const clamps = graph.node.filter((n) => n.opType === 'Clip');
    expect(clamps).toHaveLength(residuals);
    for (const clip of clamps) expect(producer.get(clip.input[0])?.opType).toBe('Add');
  });
});
