/**
 * The embedded demo model bundle: a tiny, untrained, deterministic FLUX-style pipeline generated in
 * TypeScript (no downloads). Its images are abstract colour fields; it exists so that every stage of
 * the runtime (tokenizers, both text encoders, the DyPE transformer feed incl. external data and
 * float16 I/O, the scheduler and tiled VAE decoding) can run and be tested anywhere.
 *
 * Layout (diffusers/optimum ONNX):
 *   dype.json, model_index.json, scheduler/scheduler_config.json,
 *   tokenizer/{tokenizer.json,tokenizer_config.json}, tokenizer_2/{…},
 *   text_encoder/model.onnx, text_encoder_2/model.onnx,
 *   transformer/model.onnx + transformer/model.onnx_data, vae_decoder/model.onnx, vae_encoder/model.onnx
 * The VAE is an analytic encoder/decoder pair (vae.ts), so image-to-image can be tested for fidelity.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../files/atomic.ts';
import type { BundleConfigInput } from '../bundle/config.ts';
import { FLUX_SCHEDULERS } from '../bundle/flux1.ts';
import { DEMO_DIMS, type DemoDims } from './dims.ts';
import { buildClipEncoder, buildT5Encoder } from './encoders.ts';
import { clipTokenizerConfig, clipTokenizerJson, t5TokenizerConfig, t5TokenizerJson } from './tokenizers.ts';
import { buildTransformer } from './transformer.ts';
import { buildVaeDecoder, buildVaeEncoder, DEMO_VAE_COLOURS } from './vae.ts';

export { DEMO_DIMS, type DemoDims };
export { CLIP_VOCAB_SIZE, T5_VOCAB_SIZE, CLIP_BOS_ID, CLIP_EOS_ID, T5_EOS_ID } from './tokenizers.ts';

export const DEMO_MODEL_NAME = 'dype-demo';
/** Weight seed used when DemoBundleOptions.seed is left out. */
export const DEMO_DEFAULT_SEED = 20251;

export interface DemoBundleOptions {
  /** Which RoPE feed the transformer takes (default 'omega': rope_omega + rope_mscale). */
  ropeInputs?: 'omega' | 'tables';
  /** Transformer float inputs/outputs as float16 (internals stay float32). Default false. */
  float16Io?: boolean;
  /** FLUX-dev-style guidance embedding input (default true; false ≈ schnell). */
  guidance?: boolean;
  /** Weight seed (uint32); default DEMO_DEFAULT_SEED. */
  seed?: number;
  /** A FLUX Fill-style transformer that takes the masked image and mask channels (default false). */
  fill?: boolean;
}

/** Latent → RGB preview projection: the demo decoder's own colour map (before its tanh), one row per latent channel. */
const PREVIEW_RGB_FACTORS = DEMO_VAE_COLOURS.matrix[0].map((_, c) => [0, 1, 2].map((k) => DEMO_VAE_COLOURS.matrix[k][c]) as [number, number, number]);
const PREVIEW_RGB_BIAS = [...DEMO_VAE_COLOURS.bias] as [number, number, number];

export function demoBundleConfig(options: DemoBundleOptions = {}): BundleConfigInput {
  const d = DEMO_DIMS;
  const guidance = options.guidance ?? true;
  return {
    format: 'dype-bundle',
    version: 1,
    name: DEMO_MODEL_NAME,
    description:
      'Untrained demo model generated in TypeScript from seeded random weights: it exercises the whole pipeline ' +
      '(text encoders, DyPE transformer, scheduler, tiled VAE decode and encode) but its images are abstract colour patterns, not depictions of the prompt.',
    demo: true,
    nativeResolution: 1024,
    pixelsPerToken: d.patchSize * d.vaeScale,
    patchSize: d.patchSize,
    latentChannels: d.latentChannels,
    vae: { scaleFactorPx: d.vaeScale, scalingFactor: 1, shiftFactor: 0, encoder: true },
    rope: { axesDim: [...d.ropeAxesDim], theta: d.ropeTheta, inputs: options.ropeInputs ?? 'omega' },
    text: { clipMaxLength: d.clipMaxLength, t5MaxLength: d.t5MaxLength },
    preview: { latentRgbFactors: PREVIEW_RGB_FACTORS.map((r) => [...r] as [number, number, number]), latentRgbBias: [...PREVIEW_RGB_BIAS] },
    defaults: { steps: 8, guidance: guidance ? 3.5 : null, dypeScale: 2, dypeExponent: 2 },
    // Native-size tiles (1024 px); the margin covers the decoder's receptive field, so tiled = whole.
    decode: { tile: 32, overlap: 12, margin: DEMO_DIMS.vaeHalo },
    limits: { maxSide: 8192, maxPixels: 8192 * 8192 },
  };
}

function modelIndex(): object {
  return {
    _class_name: 'FluxPipeline',
    _diffusers_version: '0.30.0',
    scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    text_encoder_2: ['transformers', 'T5EncoderModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'T5TokenizerFast'],
    transformer: ['diffusers', 'FluxTransformer2DModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  };
}

const json = (value: unknown): Uint8Array => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);


/** The bundle's files as relative path → bytes (pure; no I/O). */
export function demoBundleFiles(options: DemoBundleOptions = {}): Map<string, Uint8Array> {
  const resolved = {
    ropeInputs: options.ropeInputs ?? 'omega',
    float16Io: options.float16Io ?? false,
    guidance: options.guidance ?? true,
    seed: options.seed ?? DEMO_DEFAULT_SEED,
    fill: options.fill ?? false,
  } as const;
  if (resolved.ropeInputs !== 'omega' && resolved.ropeInputs !== 'tables') {
    throw new RangeError(`ropeInputs must be 'omega' or 'tables', got ${String(resolved.ropeInputs)}`);
  }
  if (!Number.isInteger(resolved.seed) || resolved.seed < 0 || resolved.seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${String(resolved.seed)}`);
  }
  const seed = resolved.seed;
  const files = new Map<string, Uint8Array>();
  files.set('dype.json', json(demoBundleConfig(resolved)));
  files.set('model_index.json', json(modelIndex()));
  files.set('scheduler/scheduler_config.json', json(FLUX_SCHEDULERS.dev));
  files.set('tokenizer/tokenizer.json', json(clipTokenizerJson()));
  files.set('tokenizer/tokenizer_config.json', json(clipTokenizerConfig()));
  files.set('tokenizer_2/tokenizer.json', json(t5TokenizerJson()));
  files.set('tokenizer_2/tokenizer_config.json', json(t5TokenizerConfig()));
  files.set('text_encoder/model.onnx', buildClipEncoder(DEMO_DIMS, DEMO_DIMS.clipVocabSize, seed).model);
  files.set('text_encoder_2/model.onnx', buildT5Encoder(DEMO_DIMS, DEMO_DIMS.t5VocabSize, seed).model);
  const transformer = buildTransformer(DEMO_DIMS, resolved);
  files.set('transformer/model.onnx', transformer.model);
  if (!transformer.externalData) throw new Error('transformer weights were expected to go to external data');
  files.set('transformer/model.onnx_data', transformer.externalData);
  files.set('vae_decoder/model.onnx', buildVaeDecoder(DEMO_DIMS).model);
  files.set('vae_encoder/model.onnx', buildVaeEncoder(DEMO_DIMS).model);
  return files;
}

/** Writes the demo bundle into `dir` (created as needed; existing files are replaced atomically). */
export async function writeDemoBundle(dir: string, options: DemoBundleOptions = {}): Promise<void> {
  const files = demoBundleFiles(options);
  // External data first, so a model.onnx never points at a missing or stale blob.
  const order = [...files.keys()].sort((a, b) => Number(b.endsWith('.onnx_data')) - Number(a.endsWith('.onnx_data')));
  for (const rel of order) await writeFileAtomic(join(dir, rel), files.get(rel)!);
}
