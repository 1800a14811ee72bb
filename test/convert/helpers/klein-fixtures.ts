/** The tiny FLUX.2 [klein] fixtures and torch reference outputs of test/convert/reference-flux2/make_fixtures.py. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { buildFlux2Transformer, deriveFlux2Config, type Flux2Config } from '../../../runtime/convert/flux2.ts';
import type { QuantizeMode } from '../../../runtime/convert/quantize.ts';
import { imageIds, textSequenceIds } from '../../../runtime/pipeline/latents.ts';
import { convertCheckpoint } from './flux-fixtures.ts';

export const KLEIN_FIXTURES = fileURLToPath(new URL('../reference-flux2/fixtures/', import.meta.url));

interface HiddenStates {
  layers: number[];
  shape: number[];
  values: number[];
}
type RopeFeed = { omega: number[]; mscale: number[] };

export interface KleinReference {
  tokenizer: {
    vocab_size: number;
    pad_id: number;
    max_length: number;
    cases: Record<string, { prompt: string; input_ids: number[]; attention_mask: number[] }>;
  };
  /** BFL flux2 get_schedule for (steps, image tokens). */
  schedule: { steps: number; image_seq_len: number; mu: number; sigmas: number[] }[];
  qwen3: {
    checkpoint: string;
    config: { vocab: number; hidden: number; layers: number };
    input_ids: number[];
    attention_mask: number[];
    klein: HiddenStates;
    second_to_last: HiddenStates;
    final_norm: HiddenStates;
  };
  transformer: {
    checkpoint: string;
    config: { hidden: number; heads: number; in_channels: number; context: number; depth: number; depth_single: number; axes: number[]; theta: number };
    grid: { height: number; width: number; textTokens: number };
    t: number;
    inputs: { hidden_states: number[]; timestep: number[] };
    rope: Record<'native' | 'dype', RopeFeed>;
    /** Per checkpoint file: its weights as stored, widened to float32. */
    outputs: Record<string, Record<'native' | 'dype', number[]>>;
  };
  vae: {
    checkpoint: string;
    config: { z_channels: number; bn_eps: number };
    decode: { latent_shape: number[]; latent: number[]; sample_shape: number[]; sample: number[] };
    encode: { sample_shape: number[]; sample: number[]; latent_shape: number[]; latent: number[] };
  };
}

export const KLEIN_REFERENCE = JSON.parse(readFileSync(join(KLEIN_FIXTURES, 'reference.json'), 'utf8')) as KleinReference;

export const KLEIN_TRANSFORMER = join(KLEIN_FIXTURES, 'flux-2-klein-4b.safetensors');

/** The reference transformer inputs (its text: the reference Qwen3 encoder's klein hidden states) at native or DyPE ω/mscale. */
export function kleinFeeds(c: Flux2Config, rope: 'native' | 'dype'): Record<string, ort.Tensor> {
  const { grid, inputs, rope: feeds } = KLEIN_REFERENCE.transformer;
  const tokens = grid.height * grid.width;
  const f32 = (data: ArrayLike<number>, dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);
  return {
    hidden_states: f32(inputs.hidden_states, [1, tokens, c.inChannels]),
    encoder_hidden_states: f32(KLEIN_REFERENCE.qwen3.klein.values, [1, grid.textTokens, c.contextDim]),
    timestep: f32(inputs.timestep, [1]),
    img_ids: f32(imageIds(grid.height, grid.width, 4), [tokens, 4]),
    txt_ids: f32(textSequenceIds(grid.textTokens, 4), [grid.textTokens, 4]),
    rope_omega: f32(feeds[rope].omega, [c.headDim / 2]),
    rope_mscale: f32(feeds[rope].mscale, [c.headDim / 2]),
  };
}

/** Converts the tiny klein transformer (see convertCheckpoint), in float32 or as the float16 graph, optionally quantized. */
export function convertKlein(dir: string, file = KLEIN_TRANSFORMER, precision: 'float32' | 'float16' = 'float32', quantize?: QuantizeMode) {
  return convertCheckpoint(
    [file],
    dir,
    (b, w) => {
      const config = deriveFlux2Config(w);
      buildFlux2Transformer(b, w, config, { precision });
      return config;
    },
    precision,
    quantize,
  );
}

/** Runs a converted klein transformer (a real CPU session) on the reference inputs. */
export async function runKlein(path: string, c: Flux2Config, rope: 'native' | 'dype'): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  try {
    const out = await session.run(kleinFeeds(c, rope));
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}
