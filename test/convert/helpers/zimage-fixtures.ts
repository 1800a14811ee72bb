/**
 * The tiny Z-Image checkpoint and torch reference written by test/convert/reference-zimage/make_fixtures.py,
 * and a way to run a converted Z-Image transformer as the pipeline feeds it (FLUX-packed latents,
 * t = 1 − σ as the timestep, zimageIds, ω/mscale from runtime/dype).
 */
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildZImageTransformer, deriveZImageConfig, type ZImageConfig } from '../../../runtime/convert/zimage.ts';
import { zimageIds } from '../../../runtime/families/zimage.ts';
import type { TokenGrid } from '../../../runtime/dype/index.ts';
import { packLatents, unpackLatents } from '../../../runtime/pipeline/latents.ts';
import { createSession, type TensorData } from '../../../runtime/pipeline/ort.ts';
import { convertCheckpoint } from './flux-fixtures.ts';
import { KLEIN_FIXTURES } from './klein-fixtures.ts';
import { convertCheckpoints, type ConvertReport } from '../../../runtime/convert/index.ts';
import type { QuantizeMode } from '../../../runtime/convert/quantize.ts';

export const ZIMAGE_FIXTURES = fileURLToPath(new URL('../reference-zimage/fixtures/', import.meta.url));
export const ZIMAGE_CHECKPOINT = join(ZIMAGE_FIXTURES, 'z_image_turbo_bf16.safetensors');

export interface ZImageCase {
  grid: TokenGrid;
  /** [16, 2·height, 2·width] */
  latents: number[];
  /** [textTokens, capDim] */
  caption: number[];
}

export interface RopeFeed {
  omega: ArrayLike<number>;
  mscale: ArrayLike<number>;
}

export interface ZImageReference {
  config: { hidden: number; heads: number; headDim: number; mlpHidden: number; capDim: number; adalnDim: number; timeHidden: number; inChannels: number; axesDim: number[]; theta: number; noiseRefiners: number; contextRefiners: number; depth: number };
  sigma: number;
  /** The caption of one prompt as Tongyi's pipeline computes it (Qwen3 hidden state −2, the prompt's rows). */
  text: { prompt: string; template: string; inputIds: number[]; hiddenState: number; caption: number[] };
  cases: Record<'padded' | 'aligned', ZImageCase>;
  rope: { dype: RopeFeed; axes: RopeFeed; dypeOptions: { method: 'yarn'; dynamic: boolean; baseLength: number; theta: number; axesDim: number[] } };
  /** The model's own outputs (not negated), latents [16, H, W]. */
  outputs: Record<'native' | 'dype' | 'axes' | 'aligned', number[]>;
  euler: { steps: number; shift: number; sigmas: number[]; index: number; next: number[] };
}

/** A ComfyUI-like models folder: diffusion_models, text_encoders (klein's tiny Qwen3) and vae under their usual file names. */
export function writeZImageModels(dir: string, ae: string): void {
  const put = (from: string, rel: string) => {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    cpSync(from, join(dir, rel));
  };
  put(ZIMAGE_CHECKPOINT, 'diffusion_models/z_image_turbo_bf16.safetensors');
  put(join(KLEIN_FIXTURES, 'qwen_3_4b.safetensors'), 'text_encoders/qwen_3_4b.safetensors');
  put(ae, 'vae/ae.safetensors');
}

/** The AE at 32 px per latent pixel: 4096×2304 images are 64×36 tokens. */
export const LARGE_IMAGE_AE = join(ZIMAGE_FIXTURES, 'e2e', 'ae.safetensors');

/** Converts the tiny Z-Image files with `ae` into a bundle at `dir/bundle` (klein's tiny Qwen tokenizer as --tokenizers). */
export async function convertZImageBundle(dir: string, ae = LARGE_IMAGE_AE): Promise<{ bundle: string; report: ConvertReport }> {
  writeZImageModels(join(dir, 'models'), ae);
  const bundle = join(dir, 'bundle');
  const report = await convertCheckpoints([join(dir, 'models')], { output: bundle, tokenizers: KLEIN_FIXTURES, hubCache: null });
  return { bundle, report };
}

export const ZIMAGE_REFERENCE = JSON.parse(readFileSync(join(ZIMAGE_FIXTURES, 'reference.json'), 'utf8')) as ZImageReference;

/** Converts the tiny Z-Image transformer (see convertCheckpoint), in float32 or as the float16 graph, optionally quantized. */
export function convertZImage(dir: string, files: readonly string[] = [ZIMAGE_CHECKPOINT], precision: 'float32' | 'float16' = 'float32', quantize?: QuantizeMode) {
  return convertCheckpoint(
    files,
    dir,
    (b, w) => {
      const config = deriveZImageConfig(w);
      buildZImageTransformer(b, w, config, { precision });
      return config;
    },
    precision,
    quantize,
  );
}

export function latentShape(grid: TokenGrid, channels = 16) {
  return { channels, height: 2 * grid.height, width: 2 * grid.width };
}

/**
 * Runs the converted transformer on one reference case at flow-matching σ, fed t = 1 − σ as Z-Image
 * takes it; returns the velocity unpacked to [C, H, W].
 */
export async function runZImage(path: string, config: ZImageConfig, c: ZImageCase, sigma: number, rope: RopeFeed): Promise<Float32Array> {
  const { grid } = c;
  const tokens = grid.height * grid.width;
  const shape = latentShape(grid, config.inChannels / 4);
  const { txtIds, imgIds } = zimageIds(grid.textTokens, grid.height, grid.width);
  const f32 = (data: ArrayLike<number>, dims: number[]): TensorData => ({ type: 'float32', data: Float32Array.from(data), dims });
  const feeds: Record<string, TensorData> = {
    hidden_states: f32(packLatents(Float32Array.from(c.latents), shape), [1, tokens, config.inChannels]),
    encoder_hidden_states: f32(c.caption, [1, grid.textTokens, config.capDim]),
    timestep: f32([1 - sigma], [1]),
    img_ids: f32(imgIds, [tokens, 3]),
    txt_ids: f32(txtIds, [grid.textTokens, 3]),
    rope_omega: f32(rope.omega, [config.headDim / 2]),
    rope_mscale: f32(rope.mscale, [config.headDim / 2]),
  };
  const session = await createSession(path, 'cpu');
  try {
    const out = await session.run(feeds);
    return unpackLatents(out[session.outputNames[0]].data as Float32Array, shape);
  } finally {
    await session.release();
  }
}
