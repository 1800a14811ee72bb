/**
 * One denoising step of a tiny Z-Image transformer against a tiny FLUX.1 one of the same width and
 * head dim (256 wide, two heads of 128: Z-Image's RoPE needs the real head dim) at equal tokens
 * (1024 image + 512 text, as klein-step.ts), as a ratio. Z-Image runs its 2 + 2 refiner blocks (the
 * real counts) on each sequence alone and 2 joint layers, FLUX.1 1 double + 2 single blocks; random f32
 * weights are converted as `dype convert` does. Neither sequence needs pad rows at these lengths.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZIMAGE_DEFAULTS } from '../runtime/bundle/zimage.ts';
import { buildFluxTransformer, deriveFluxConfig, expectedShapes, fluxAxesDim, type FluxConfig } from '../runtime/convert/flux.ts';
import { buildZImageTransformer, deriveZImageConfig, zimageShapes, type ZImageConfig } from '../runtime/convert/zimage.ts';
import { zimageIds } from '../runtime/families/zimage.ts';
import { imageIds, textIds } from '../runtime/pipeline/latents.ts';
import { gaussianNoise } from '../runtime/pipeline/noise.ts';
import { convertRandom, f32, stepTime } from './klein-step.ts';
import type { BenchResult } from './timing.ts';

const WIDTH = { hidden: 256, heads: 2, headDim: 128 };
const GRID = { height: 32, width: 32, textTokens: 512 };

const FLUX1_TINY: FluxConfig = {
  ...WIDTH,
  naming: 'bfl',
  mlpHidden: 4 * WIDTH.hidden,
  inChannels: 64,
  outChannels: 64,
  contextDim: 64,
  vecDim: 64,
  timeDim: 256,
  depth: 1,
  depthSingle: 2,
  guidance: true,
  axesDim: fluxAxesDim(WIDTH.headDim),
  theta: 10000,
};
const ZIMAGE_TINY: ZImageConfig = {
  ...WIDTH,
  mlpHidden: Math.floor((WIDTH.hidden / 3) * 8),
  inChannels: 64,
  outChannels: 64,
  capDim: 64,
  timeDim: 256,
  timeHidden: 256,
  adalnDim: 256,
  blocks: { noise_refiner: 2, context_refiner: 2, layers: 2 },
  axesDim: [...ZIMAGE_DEFAULTS.axesDim],
  theta: ZIMAGE_DEFAULTS.theta,
};

export async function benchZImageStep(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dype-bench-zimage-'));
  try {
    const tokens = GRID.height * GRID.width;
    const T = GRID.textTokens;
    const F = WIDTH.headDim / 2;
    const common = {
      hidden_states: f32(gaussianNoise(7, tokens * 64), [1, tokens, 64]),
      encoder_hidden_states: f32(gaussianNoise(8, T * 64), [1, T, 64]),
      timestep: f32(Float32Array.of(0.7), [1]),
      rope_omega: f32(new Float32Array(F).fill(0.5), [F]),
      rope_mscale: f32(new Float32Array(F).fill(1), [F]),
    };
    const fluxPath = await convertRandom(dir, 'flux1', expectedShapes(FLUX1_TINY), (b, w) => buildFluxTransformer(b, w, deriveFluxConfig(w, 'bfl')));
    const zimagePath = await convertRandom(dir, 'zimage', zimageShapes(ZIMAGE_TINY), (b, w) => buildZImageTransformer(b, w, deriveZImageConfig(w)));
    const flux = await stepTime(
      fluxPath,
      {
        ...common,
        img_ids: f32(imageIds(GRID.height, GRID.width), [tokens, 3]),
        txt_ids: f32(textIds(T), [T, 3]),
        pooled_projections: f32(gaussianNoise(9, 64), [1, 64]),
        guidance: f32(Float32Array.of(3.5), [1]),
      },
      `tiny FLUX.1 step, width 256 (${tokens} + ${T} tokens)`,
    );
    const ids = zimageIds(T, GRID.height, GRID.width);
    const zimage = await stepTime(zimagePath, { ...common, img_ids: f32(ids.imgIds, [tokens, 3]), txt_ids: f32(ids.txtIds, [T, 3]) }, `tiny Z-Image step, width 256 (${tokens} + ${T} tokens)`);
    return [flux, { ...zimage, ratio: zimage.medianMs / flux.medianMs, note: 'Z-Image (2 + 2 refiners, 2 layers) / FLUX.1 (1 double, 2 single) at the same width and heads' }];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
