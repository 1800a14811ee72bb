/**
 * A model family: what differs between FLUX.1, FLUX.2 and Z-Image once their graphs are in a bundle.
 * The pipeline's shared parts (denoise.ts, decode.ts, encode.ts, ort.ts, the DyPE math) stay
 * family-free; Pipeline asks the family object, chosen by dype.json `family`, for everything below.
 * How to add one: README.md beside this file.
 */
import type { BundleConfig, FamilyId } from '../bundle/config.ts';
import type { ContractSpec } from '../bundle/contract.ts';
import type { AxisRole } from '../dype/index.ts';
import type { Session, TensorData } from '../pipeline/ort.ts';
import type { PromptTokenizer } from '../pipeline/text.ts';

/** One text encoder as the pipeline loads it: its session, its tokenizer and its prompt length in tokens. */
export interface LoadedEncoder {
  session: Session;
  tokenizer: PromptTokenizer;
  length: number;
}

/** The prompt as the transformer takes it: its text feeds (e.g. encoder_hidden_states) and how many text tokens they hold. */
export interface EncodedPrompt {
  feeds: Record<string, TensorData>;
  textTokens: number;
}

/** The image token grid of one generation. */
export interface PositionGrid {
  rows: number;
  cols: number;
  textTokens: number;
}

export interface ModelFamily {
  id: FamilyId;
  /** How `dype info`, reports and errors name it. */
  label: string;

  // Text encoders, and how their outputs become the transformer's text input.
  /** The bundle contract: transformer inputs, text encoder folders and outputs (published in runtime/bundle). */
  contract: ContractSpec;
  /** Tokens per prompt for each encoder key of the contract: dype.json's text lengths, or the transformer's fixed text length. */
  textLengths(config: BundleConfig, transformer: Session): Record<string, number>;
  /** Tokenizes and encodes `prompt` with every encoder, and maps their outputs onto the transformer's text feeds. */
  encodePrompt(prompt: string, encoders: Readonly<Record<string, LoadedEncoder>>, log: (line: string) => void): Promise<EncodedPrompt>;

  // The transformer's feeds.
  /** Position ids, one column per RoPE axis, for the image tokens and the text tokens (e.g. img_ids, txt_ids). */
  positionFeeds(grid: PositionGrid, transformer: Session): Record<string, TensorData>;
  /**
   * The timestep the transformer takes at flow-matching σ (1 = noise): σ itself where the graph
   * scales it (FLUX: ×1000 inside), 1 − σ for Z-Image. The graph's output must be the velocity
   * dx/dσ the shared Euler step uses; a model that predicts its negation (Z-Image) negates it inside
   * its converted graph, so the step, the device step graph and the preview's x0 stay shared.
   */
  timestep(sigma: number): number;
  /** The guidance feed, for graphs that take one (FLUX.1-dev's guidance embedding); null where the family has none. */
  guidanceFeed(guidance: number): Record<string, TensorData> | null;

  // RoPE.
  /** Per axis of dype.json rope.axesDim (θ is dype.json's too): which axes DyPE scales ('rows', 'cols') and which stay native. */
  axisRoles(config: BundleConfig): readonly AxisRole[];

  // Latents and the VAE.
  /** Packed model-space latents (what the transformer denoises) → the VAE decoder's packed input, in place. */
  toVaeLatents(packed: Float32Array, config: BundleConfig): void;
  /** The VAE encoder's packed latent mean → model space, in place (inverse of toVaeLatents). */
  fromVaeLatents(packed: Float32Array, config: BundleConfig): void;

  // The scheduler and the defaults (steps, guidance, native resolution, shift rule) are data, not
  // code: the family's published values (runtime/bundle/<family>.ts) are written into each bundle's
  // dype.json and scheduler/scheduler_config.json, and the pipeline reads them from there.
}
