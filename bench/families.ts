/**
 * Per-step transformer time of each family's tiny test model at equal tokens (CPU), side by side:
 * the committed FLUX.1-dev fixture (width 64, 2 double + 2 single blocks) and the Z-Image fixture
 * (width 256 with Z-Image's head dim 128, 1 noise refiner + 1 context refiner + 1 layer), converted
 * as `dype convert` converts them. Both run 64×64 image tokens and 64 text tokens (Z-Image pads its
 * sequences to multiples of 32, so it attends over the same 4160 rows).
 */
import { join } from 'node:path';
import { buildFluxTransformer, deriveFluxConfig } from '../runtime/convert/flux.ts';
import { ZIMAGE_DEFAULTS } from '../runtime/bundle/zimage.ts';
import { buildZImageTransformer, deriveZImageConfig } from '../runtime/convert/zimage.ts';
import { zimageIds } from '../runtime/families/zimage.ts';
import { fluxRopeFrequencies } from '../runtime/dype/index.ts';
import { imageIds, textIds } from '../runtime/pipeline/latents.ts';
import { gaussianNoise } from '../runtime/pipeline/noise.ts';
import { createSession, type TensorData } from '../runtime/pipeline/ort.ts';
import { convertCheckpoint, FLUX_FIXTURES, tempRoot } from '../test/convert/helpers/flux-fixtures.ts';
import { ZIMAGE_CHECKPOINT } from '../test/convert/helpers/zimage-fixtures.ts';
import { median, type BenchResult } from './timing.ts';

const GRID = { height: 64, width: 64, textTokens: 64 };

async function perStepMs(path: string, feeds: Record<string, TensorData>): Promise<number> {
  const session = await createSession(path, 'cpu');
  try {
    await session.run(feeds); // warm-up
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      await session.run(feeds);
      times.push(performance.now() - start);
    }
    return median(times);
  } finally {
    await session.release();
  }
}

export async function benchFamilies(): Promise<BenchResult[]> {
  const { root, cleanup } = tempRoot('dype-bench-families-');
  const tokens = GRID.height * GRID.width;
  const f32 = (data: ArrayLike<number>, dims: number[]): TensorData => ({ type: 'float32', data: Float32Array.from(data), dims });
  const rope = (theta: number, axesDim: number[]) => {
    const { omega, mscale } = fluxRopeFrequencies(GRID, 0.5, { method: 'yarn', dynamic: true, baseLength: 32, theta, axesDim });
    return { rope_omega: f32(omega, [omega.length]), rope_mscale: f32(mscale, [mscale.length]) };
  };
  try {
    const flux = await convertCheckpoint([join(FLUX_FIXTURES, 'flux-dev-f32.safetensors')], join(root, 'flux'), (b, w) => {
      const config = deriveFluxConfig(w, 'bfl');
      buildFluxTransformer(b, w, config);
      return config;
    });
    const fc = flux.config;
    const fluxMs = await perStepMs(flux.path, {
      hidden_states: f32(gaussianNoise(1, tokens * fc.inChannels), [1, tokens, fc.inChannels]),
      encoder_hidden_states: f32(gaussianNoise(2, GRID.textTokens * fc.contextDim), [1, GRID.textTokens, fc.contextDim]),
      pooled_projections: f32(gaussianNoise(3, fc.vecDim), [1, fc.vecDim]),
      timestep: f32([0.5], [1]),
      guidance: f32([3.5], [1]),
      img_ids: f32(imageIds(GRID.height, GRID.width), [tokens, 3]),
      txt_ids: f32(textIds(GRID.textTokens), [GRID.textTokens, 3]),
      ...rope(fc.theta, fc.axesDim),
    });

    const zimage = await convertCheckpoint([ZIMAGE_CHECKPOINT], join(root, 'zimage'), (b, w) => {
      const config = deriveZImageConfig(w);
      buildZImageTransformer(b, w, config);
      return config;
    });
    const zc = zimage.config;
    const { txtIds, imgIds } = zimageIds(GRID.textTokens, GRID.height, GRID.width);
    const zimageMs = await perStepMs(zimage.path, {
      hidden_states: f32(gaussianNoise(1, tokens * zc.inChannels), [1, tokens, zc.inChannels]),
      encoder_hidden_states: f32(gaussianNoise(2, GRID.textTokens * zc.capDim), [1, GRID.textTokens, zc.capDim]),
      timestep: f32([0.5], [1]),
      img_ids: f32(imgIds, [tokens, 3]),
      txt_ids: f32(txtIds, [GRID.textTokens, 3]),
      ...rope(ZIMAGE_DEFAULTS.theta, zc.axesDim),
    });
    return [
      { name: `tiny FLUX.1-dev (width ${fc.hidden}, ${fc.depth}+${fc.depthSingle} blocks)`, medianMs: fluxMs },
      { name: `tiny Z-Image (width ${zc.hidden}, ${zc.blocks.noise_refiner}+${zc.blocks.context_refiner}+${zc.blocks.layers} blocks)`, medianMs: zimageMs },
      { name: 'Z-Image / FLUX.1 per-step time', ratio: zimageMs / fluxMs },
    ];
  } finally {
    cleanup();
  }
}
