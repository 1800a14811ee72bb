/** The tiny FLUX.2 [klein] fixtures and torch reference outputs of test/convert/reference-flux2/make_fixtures.py. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
