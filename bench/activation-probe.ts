/**
 * Measures the activation memory the planner (runtime/memory/plan.ts) models. Run in a fresh process:
 *   tsx bench/activation-probe.ts <imageTokens> [float32|float16] [cpu|cuda|webgpu]
 *   tsx bench/activation-probe.ts vae <latentTile> [cpu|cuda|webgpu]
 * The second form decodes one latent tile with the full-size FLUX.1 VAE decoder (published shapes,
 * zero weights).
 * It builds a full-width FLUX.1 transformer (hidden 3072, MLP 12288, 24 heads) with one double and
 * one single block over a sparse checkpoint (real header, zero weights: the same ops and buffers as
 * real weights), creates the session, runs one forward pass at `imageTokens` + 512 text tokens and
 * prints one JSON line: resident memory after loading, peak resident memory (VmHWM), and the peak
 * minus the loaded size: the activations at that size. Activations do not grow with depth (the
 * blocks reuse their buffers), so one block of each kind measures what the full model needs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildFluxTransformer, expectedShapes, fluxAxesDim, type FluxConfig } from '../runtime/convert/flux.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../runtime/convert/source.ts';
import { GraphBuilder } from '../runtime/onnx/builder.ts';
import { buildVaeDecoder, deriveVaeConfig } from '../runtime/convert/vae.ts';
import { writeSparseCheckpoint } from './sparse-checkpoint.ts';

export const PROBE_CONFIG: FluxConfig = {
  naming: 'bfl', hidden: 3072, heads: 24, headDim: 128, mlpHidden: 12288, inChannels: 64, outChannels: 64,
  contextDim: 4096, vecDim: 768, timeDim: 256, depth: 1, depthSingle: 1, guidance: false, axesDim: fluxAxesDim(128), theta: 10000,
};
export const PROBE_TEXT_TOKENS = 512;

function status(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

/**
 * Writes `dir`/model.onnx over a sparse checkpoint `dir`/weights.safetensors of `shapes` (zero
 * weights), built by `build`; returns the model's path. The GPU check runs these too.
 */
export async function writeProbeModel(dir: string, shapes: Map<string, number[]>, dtype: 'F16' | 'F32', build: (b: GraphBuilder, w: SafetensorsWeightSource) => void): Promise<string> {
  const file = join(dir, 'weights.safetensors');
  writeSparseCheckpoint(file, shapes, dtype);
  const header = await readSafetensorsHeader(file);
  const b = new GraphBuilder('probe');
  const w = new SafetensorsWeightSource(b, [{ header, location: 'weights.safetensors' }], file, dtype === 'F16' ? 'float16' : 'float32');
  build(b, w);
  const { model } = b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION, producerName: 'probe' });
  const modelPath = join(dir, 'model.onnx');
  writeFileSync(modelPath, model);
  return modelPath;
}

/** The probe transformer in `precision` (float16 weights for the float16 graph), written to `dir`. */
export function writeProbeTransformer(dir: string, precision: 'float32' | 'float16', config: FluxConfig = PROBE_CONFIG): Promise<string> {
  return writeProbeModel(dir, expectedShapes(config), precision === 'float16' ? 'F16' : 'F32', (b, w) => buildFluxTransformer(b, w, config, { precision }));
}

/** Feeds for one step of the probe transformer at `imageTokens` (+ 512 text tokens). */
export function probeFeeds(imageTokens: number, config: FluxConfig = PROBE_CONFIG): Record<string, ort.Tensor> {
  const F = config.headDim / 2;
  const zeros = (...dims: number[]) => new ort.Tensor('float32', new Float32Array(dims.reduce((a, c) => a * c, 1)), dims);
  return {
    hidden_states: zeros(1, imageTokens, config.inChannels),
    encoder_hidden_states: zeros(1, PROBE_TEXT_TOKENS, config.contextDim),
    pooled_projections: zeros(1, config.vecDim),
    timestep: zeros(1),
    ...(config.guidance ? { guidance: zeros(1) } : {}),
    img_ids: zeros(imageTokens, 3),
    txt_ids: zeros(PROBE_TEXT_TOKENS, 3),
    rope_omega: zeros(F),
    rope_mscale: new ort.Tensor('float32', new Float32Array(F).fill(1), [F]),
  };
}

/** Loads `write`'s model, runs `feeds` once and prints resident memory after loading and at the peak. */
async function probe(write: (dir: string) => Promise<string>, provider: string, feeds: () => Record<string, ort.Tensor>, label: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'dype-act-'));
  try {
    const session = await ort.InferenceSession.create(await write(dir), { executionProviders: [provider], graphOptimizationLevel: 'all' });
    const loaded = status('VmRSS');
    const start = performance.now();
    await session.run(feeds());
    const runMs = performance.now() - start;
    const peak = status('VmHWM');
    process.stdout.write(`${JSON.stringify({ ...label, provider, loadedRss: loaded, peakRss: peak, activations: peak - loaded, runMs })}\n`);
    await session.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function probeVae(tile: number, provider: string): Promise<void> {
  const shapes = JSON.parse(readFileSync(new URL('../test/convert/reference-encoders/fixtures/full-size-shapes.json', import.meta.url), 'utf8')).ae as Record<string, number[]>;
  let cfg: ReturnType<typeof deriveVaeConfig> | undefined;
  await probe((dir) => writeProbeModel(dir, new Map(Object.entries(shapes)), 'F32', (b, w) => buildVaeDecoder(b, w, (cfg = deriveVaeConfig(w)))), provider, () => ({
    latent_sample: new ort.Tensor('float32', new Float32Array(16 * tile * tile), [1, 16, tile, tile]),
  }), { vaeTile: tile, outputPixels: (tile * (cfg?.scaleFactorPx ?? 8)) ** 2 });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'vae') return probeVae(Number(process.argv[3] ?? 32), process.argv[4] ?? 'cpu');
  const imageTokens = Number(process.argv[2] ?? 1024);
  const precision = (process.argv[3] ?? 'float32') as 'float32' | 'float16';
  const provider = process.argv[4] ?? 'cpu';
  await probe((dir) => writeProbeTransformer(dir, precision), provider, () => probeFeeds(imageTokens), { imageTokens, textTokens: PROBE_TEXT_TOKENS, precision });
}

if (process.argv[1]?.endsWith('activation-probe.ts')) await main();
