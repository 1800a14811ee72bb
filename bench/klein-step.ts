/**
 * One denoising step of a tiny FLUX.2 [klein] transformer against a tiny FLUX.1 one of the same width,
 * heads and block counts, at equal tokens (1024 image + 512 text: a 512² image, the full text window
 * of both), as a ratio. The difference is the architecture's: klein's SwiGLU MLP (ratio 3) against
 * FLUX.1's GELU (ratio 4), modulation shared by all blocks, no biases, 4 RoPE axes. Random f32
 * weights are written to a temp folder and converted as `dype convert` does.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFluxTransformer, deriveFluxConfig, expectedShapes, fluxAxesDim, type FluxConfig } from '../runtime/convert/flux.ts';
import { buildFlux2Transformer, deriveFlux2Config, flux2Shapes, type Flux2Config } from '../runtime/convert/flux2.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../runtime/convert/source.ts';
import { GraphBuilder } from '../runtime/onnx/builder.ts';
import { imageIds, textIds, textSequenceIds } from '../runtime/pipeline/latents.ts';
import { gaussianNoise } from '../runtime/pipeline/noise.ts';
import { createSession, type TensorData } from '../runtime/pipeline/ort.ts';
import { writeRandomCheckpoint } from '../test/convert/helpers/write-safetensors.ts';
import { timeIt, type BenchResult } from './timing.ts';

const WIDTH = { hidden: 64, heads: 2, headDim: 32, depth: 2, depthSingle: 2 };
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
  guidance: true,
  axesDim: fluxAxesDim(WIDTH.headDim),
  theta: 10000,
};
const KLEIN_TINY: Flux2Config = { ...WIDTH, mlpHidden: 3 * WIDTH.hidden, inChannels: 128, contextDim: 64, guidance: false, axesDim: [8, 8, 8, 8], theta: 2000 };

/** Writes random f32 weights of `shapes` and builds the graph over them. */
async function convertRandom(dir: string, name: string, shapes: Map<string, number[]>, build: (b: GraphBuilder, w: SafetensorsWeightSource) => void): Promise<string> {
  const file = join(dir, `${name}.safetensors`);
  writeRandomCheckpoint(file, Object.fromEntries(shapes), 1);
  const b = new GraphBuilder(name);
  build(b, new SafetensorsWeightSource(b, [{ header: await readSafetensorsHeader(file), location: `${name}.safetensors` }], name));
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
  return path;
}

const f32 = (data: Float32Array, dims: number[]): TensorData => ({ type: 'float32', data, dims });

async function stepTime(path: string, feeds: Record<string, TensorData>, name: string) {
  const session = await createSession(path, 'cpu');
  try {
    return await timeIt(name, () => session.run(feeds), { repeats: 5, warmup: 1 });
  } finally {
    await session.release();
  }
}

export async function benchKleinStep(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dype-bench-klein-'));
  try {
    const tokens = GRID.height * GRID.width;
    const T = GRID.textTokens;
    const common = (inChannels: number, axes: number, rope: number) => ({
      hidden_states: f32(gaussianNoise(7, tokens * inChannels), [1, tokens, inChannels]),
      encoder_hidden_states: f32(gaussianNoise(8, T * 64), [1, T, 64]),
      timestep: f32(Float32Array.of(0.7), [1]),
      img_ids: f32(imageIds(GRID.height, GRID.width, axes), [tokens, axes]),
      rope_omega: f32(new Float32Array(rope).fill(0.5), [rope]),
      rope_mscale: f32(new Float32Array(rope).fill(1), [rope]),
    });
    const fluxPath = await convertRandom(dir, 'flux1', expectedShapes(FLUX1_TINY), (b, w) => buildFluxTransformer(b, w, deriveFluxConfig(w, 'bfl')));
    const kleinPath = await convertRandom(dir, 'klein', flux2Shapes(KLEIN_TINY), (b, w) => buildFlux2Transformer(b, w, deriveFlux2Config(w)));
    const flux = await stepTime(
      fluxPath,
      {
        ...common(64, 3, WIDTH.headDim / 2),
        txt_ids: f32(textIds(T), [T, 3]),
        pooled_projections: f32(gaussianNoise(9, 64), [1, 64]),
        guidance: f32(Float32Array.of(3.5), [1]),
      },
      `tiny FLUX.1 step (${tokens} + ${T} tokens)`,
    );
    const klein = await stepTime(kleinPath, { ...common(128, 4, WIDTH.headDim / 2), txt_ids: f32(textSequenceIds(T, 4), [T, 4]) }, `tiny klein step (${tokens} + ${T} tokens)`);
    return [flux, { ...klein, ratio: klein.medianMs / flux.medianMs, note: 'klein / FLUX.1 at the same width, heads and blocks' }];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
