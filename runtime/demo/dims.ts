import { FLUX_DYPE_DEFAULTS } from '../dype/options.ts';
import { CLIP_VOCAB_SIZE, T5_VOCAB_SIZE } from './tokenizers.ts';

/** Widths and sizes of the demo bundle's networks (shared by the builders, tests and pipeline). */
export interface DemoDims {
  /** Transformer hidden width D. */
  readonly hidden: number;
  readonly heads: number;
  readonly headDim: number;
  readonly mlpRatio: number;
  readonly doubleBlocks: number;
  readonly singleBlocks: number;
  /** Channels of the sinusoidal timestep/guidance embedding. */
  readonly timeChannels: number;
  readonly latentChannels: number;
  readonly patchSize: number;
  /** Features per packed image token = latentChannels · patchSize². */
  readonly imageFeatures: number;
  /** VAE pixels per latent pixel. */
  readonly vaeScale: number;
  /**
   * Latent pixels of context the VAE decoder needs on each side: output pixels at least this far
   * (in latent pixels) from a tile's edge are identical to a whole-image decode.
   */
  readonly vaeHalo: number;
  /** T5-like encoder width (encoder_hidden_states). */
  readonly t5Width: number;
  /** CLIP-like encoder width (pooled_projections). */
  readonly clipWidth: number;
  readonly clipMaxLength: number;
  /** Token embedding rows of text_encoder (= CLIP-like tokenizer vocab incl. specials). */
  readonly clipVocabSize: number;
  /** Token embedding rows of text_encoder_2 (= T5-like tokenizer vocab). */
  readonly t5VocabSize: number;
  readonly t5MaxLength: number;
  readonly ropeAxesDim: readonly number[];
  readonly ropeTheta: number;
  /** Σ axesDim / 2: length of rope_omega / rope_mscale. */
  readonly ropeFrequencies: number;
  /** Σ axesDim = head dim: width of rope_cos / rope_sin. */
  readonly ropeDim: number;
}

export const DEMO_DIMS: DemoDims = Object.freeze({
  hidden: 64,
  heads: 2,
  headDim: 32,
  mlpRatio: 4,
  doubleBlocks: 2,
  singleBlocks: 2,
  timeChannels: 64,
  latentChannels: 4,
  patchSize: 2,
  imageFeatures: 16,
  vaeScale: 32,
  vaeHalo: 4,
  t5Width: 32,
  clipWidth: 32,
  clipMaxLength: 77,
  clipVocabSize: CLIP_VOCAB_SIZE,
  t5VocabSize: T5_VOCAB_SIZE,
  t5MaxLength: 64,
  ropeAxesDim: Object.freeze([4, 14, 14]),
  ropeTheta: FLUX_DYPE_DEFAULTS.theta,
  ropeFrequencies: 16,
  ropeDim: 32,
});
