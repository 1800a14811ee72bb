/**
 * The tiny FLUX.1 checkpoints and torch reference outputs written by
 * test/convert/reference-transformer/make_fixtures.py, and a way to run a converted transformer on
 * the reference inputs (real onnxruntime-node session, external data in the hard-linked checkpoint).
 */
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../../../runtime/convert/index.ts';
import { buildFluxTransformer, deriveFluxConfig, type FluxConfig } from '../../../runtime/convert/flux.ts';
import { readGgufHeader } from '../../../runtime/convert/gguf/read.ts';
import { GgufWeightSource } from '../../../runtime/convert/gguf/source.ts';
import { PackedWeightsFile } from '../../../runtime/convert/packed-weights.ts';
import { QuantizingWeightSource, type QuantizeMode } from '../../../runtime/convert/quantize.ts';
import { readSafetensorsHeader } from '../../../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../../../runtime/convert/source.ts';
import type { WeightSource } from '../../../runtime/convert/weights.ts';
import { clipTokenizerConfig, clipTokenizerJson, t5TokenizerConfig, t5TokenizerJson } from '../../../runtime/demo/tokenizers.ts';
import { GraphBuilder } from '../../../runtime/onnx/builder.ts';
import { imageIds, textIds } from '../../../runtime/pipeline/latents.ts';
import { createSession, type TensorData } from '../../../runtime/pipeline/ort.ts';

export const FLUX_FIXTURES = fileURLToPath(new URL('../fixtures/transformer/', import.meta.url));
export const ENCODER_FIXTURES = fileURLToPath(new URL('../reference-encoders/fixtures/', import.meta.url));

export interface FluxReference {
  source: string;
  config: { hidden: number; heads: number; mlpHidden: number; inChannels: number; contextDim: number; vecDim: number; axesDim: number[]; depth: number; depthSingle: number };
  grid: { height: number; width: number; textTokens: number };
  inputs: Record<'hidden_states' | 'encoder_hidden_states' | 'pooled_projections' | 'timestep' | 'guidance', number[]>;
  rope: Record<'native' | 'dype', { omega: number[]; mscale: number[] }>;
  outputs: Record<string, Record<'native' | 'dype', number[]>>;
}

export const FLUX_REFERENCE = JSON.parse(readFileSync(join(FLUX_FIXTURES, 'reference.json'), 'utf8')) as FluxReference;

export function tempRoot(prefix: string): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Builds one transformer graph over a checkpoint (its files hard-linked into `dir`, or copied where
 * /tmp is another filesystem) and returns the model path, what `build` derived, and the weight
 * source's dtype counts.
 */
export async function convertCheckpoint<C>(
  files: readonly string[],
  dir: string,
  build: (b: GraphBuilder, w: WeightSource) => C,
  precision: 'float32' | 'float16' = 'float32',
  quantize?: QuantizeMode,
) {
  mkdirSync(dir, { recursive: true });
  const headers = [];
  for (const file of files) {
    const placed = join(dir, basename(file));
    try {
      linkSync(file, placed);
    } catch {
      writeFileSync(placed, readFileSync(file));
    }
    headers.push(await readSafetensorsHeader(placed));
  }
  const b = new GraphBuilder('transformer');
  const stored = new SafetensorsWeightSource(b, headers.map((header) => ({ header, location: basename(header.file) })), basename(files[0]), precision);
  const out = quantize ? new PackedWeightsFile(dir) : null;
  const w = out ? new QuantizingWeightSource(stored, b, out, quantize!) : stored;
  const config = build(b, w);
  out?.close();
  const path = join(dir, precision === 'float16' ? 'model.fp16.onnx' : 'model.onnx');
  writeFileSync(path, b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
  return { path, config, dtypes: stored.conversions, quantized: w instanceof QuantizingWeightSource ? w.counts : null };
}

/** Converts one FLUX.1 transformer checkpoint (see convertCheckpoint), in float32 or as the float16 graph, optionally quantized. */
export function convertTransformer(files: readonly string[], dir: string, naming: 'bfl' | 'diffusers', precision: 'float32' | 'float16' = 'float32', quantize?: QuantizeMode) {
  return convertCheckpoint(
    files,
    dir,
    (b, w) => {
      const config = deriveFluxConfig(w, naming);
      buildFluxTransformer(b, w, config, { precision });
      return config;
    },
    precision,
    quantize,
  );
}

/** Runs the converted transformer on the reference inputs with native or DyPE ω/mscale. */
export async function runOnReference(path: string, config: FluxConfig, rope: 'native' | 'dype'): Promise<Float32Array> {
  const { inputs, grid } = FLUX_REFERENCE;
  const tokens = grid.height * grid.width;
  const f32 = (data: ArrayLike<number>, dims: number[]): TensorData => ({ type: 'float32', data: Float32Array.from(data), dims });
  const feeds: Record<string, TensorData> = {
    hidden_states: f32(inputs.hidden_states, [1, tokens, config.inChannels]),
    encoder_hidden_states: f32(inputs.encoder_hidden_states, [1, grid.textTokens, config.contextDim]),
    pooled_projections: f32(inputs.pooled_projections, [1, config.vecDim]),
    timestep: f32(inputs.timestep, [1]),
    img_ids: f32(imageIds(grid.height, grid.width), [tokens, 3]),
    txt_ids: f32(textIds(grid.textTokens), [grid.textTokens, 3]),
    rope_omega: f32(FLUX_REFERENCE.rope[rope].omega, [config.headDim / 2]),
    rope_mscale: f32(FLUX_REFERENCE.rope[rope].mscale, [config.headDim / 2]),
  };
  if (config.guidance) feeds.guidance = f32(inputs.guidance, [1]);
  const session = await createSession(path, 'cpu');
  try {
    const out = await session.run(feeds);
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

export { maxAbsDiff } from '../../helpers/compare.ts';

export const GGUF_FIXTURES = fileURLToPath(new URL('../fixtures/gguf/', import.meta.url));

/**
 * Converts a GGUF transformer into `dir` (model.onnx + weights.bin, as a bundle's transformer
 * folder) with MatMulNBits at `accuracyLevel`.
 */
export async function convertGgufTransformer(file: string, dir: string, accuracyLevel?: number) {
  mkdirSync(dir, { recursive: true });
  const header = await readGgufHeader(file);
  const b = new GraphBuilder('transformer');
  const out = new PackedWeightsFile(dir);
  try {
    const w = new GgufWeightSource(b, [header], basename(file), out, { accuracyLevel });
    const config = deriveFluxConfig(w, 'bfl');
    buildFluxTransformer(b, w, config);
    const path = join(dir, 'model.onnx');
    writeFileSync(path, b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
    return { path, config, counts: w.counts, weightsBytes: out.bytes, fileBytes: header.fileSize };
  } finally {
    out.close();
  }
}

/** The demo bundle's tokenizers (their vocabularies fit the e2e encoders), as a --tokenizers folder. */
export function writeDemoTokenizers(dir: string): void {
  const files: [string, object][] = [
    ['tokenizer/tokenizer.json', clipTokenizerJson()],
    ['tokenizer/tokenizer_config.json', clipTokenizerConfig()],
    ['tokenizer_2/tokenizer.json', t5TokenizerJson()],
    ['tokenizer_2/tokenizer_config.json', t5TokenizerConfig()],
  ];
  for (const [rel, json] of files) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), JSON.stringify(json));
  }
}
