/**
 * The memory planner's table for FLUX.1-dev from the published shapes: per stored format of the
 * transformer (bf16, fp8, and city96's GGUF files), its size on disk and in memory per provider, and
 * the largest square image each GPU size holds. The bf16 and fp8 rows read a sparse safetensors file
 * with the real header (no data written) and the float32 and float16 graphs built over it, so the
 * numbers go through the same readers as a converted bundle; the GGUF rows tally city96's layout
 * from the same shapes (runtime/memory/flux.ts). Prints a Markdown table (the README's).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFluxTransformer, expectedShapes } from '../runtime/convert/flux.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../runtime/convert/source.ts';
import { graphWeights } from '../runtime/memory/graph-weights.ts';
import { fluxModelMemory, publishedFluxWeights, type StoredFormat } from '../runtime/memory/flux.ts';
import { FLUX1_DEV, publishedFluxShapes } from '../runtime/memory/flux1-published.ts';
import { formatGB, largestFitting, type MachineMemory, type ModelMemory } from '../runtime/memory/plan.ts';
import { weightBytesInMemory, type ComponentWeights } from '../runtime/memory/weights.ts';
import { GraphBuilder } from '../runtime/onnx/builder.ts';
import { writeSparseCheckpoint } from './sparse-checkpoint.ts';

const GB = 1e9;
const FORMATS: readonly { label: string; transformer: StoredFormat; t5: StoredFormat; file: string }[] = [
  { label: 'bf16', transformer: 'BF16', t5: 'F16', file: 'flux1-dev.safetensors + t5xxl_fp16' },
  { label: 'fp8 (e4m3fn)', transformer: 'F8_E4M3', t5: 'F16', file: 'flux1-dev-fp8 + t5xxl_fp16' },
  { label: 'Q8_0', transformer: 'Q8_0', t5: 'Q8_0', file: 'flux1-dev-Q8_0.gguf + t5-v1_1-xxl-encoder-Q8_0.gguf' },
  { label: 'Q6_K', transformer: 'Q6_K', t5: 'Q8_0', file: 'flux1-dev-Q6_K.gguf + T5 Q8_0' },
  { label: 'Q5_K_S', transformer: 'Q5_K', t5: 'Q8_0', file: 'flux1-dev-Q5_K_S.gguf + T5 Q8_0' },
  { label: 'Q4_K_S', transformer: 'Q4_K', t5: 'Q8_0', file: 'flux1-dev-Q4_K_S.gguf + T5 Q8_0' },
  { label: 'Q4_0', transformer: 'Q4_0', t5: 'Q8_0', file: 'flux1-dev-Q4_0.gguf + T5 Q8_0' },
];
const GPU_SIZES = [8, 12, 16, 24];
/** RAM beside a discrete GPU, and the unified-memory and CPU machines of the second table. */
const HOST_RAM = 32;
const UNIFIED_SIZES = [16, 24, 36];
const CPU_RAM = [32, 64];

/** The transformer's weights as a converted bundle's graph reports them (float32 graph, with its float16 twin). */
async function fromGraph(dir: string, dtype: 'BF16' | 'F8_E4M3'): Promise<ComponentWeights> {
  const file = join(dir, `flux1-dev-${dtype}.safetensors`);
  writeSparseCheckpoint(file, expectedShapes(FLUX1_DEV), dtype);
  const header = await readSafetensorsHeader(file);
  const b = new GraphBuilder('transformer');
  buildFluxTransformer(b, new SafetensorsWeightSource(b, [{ header, location: `flux1-dev-${dtype}.safetensors` }], file), FLUX1_DEV);
  const graph = join(dir, `model-${dtype}.onnx`);
  writeFileSync(graph, b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
  const { width: _width, ...weights } = graphWeights(graph, { computeTyped: true });
  return weights;
}

const side = (s: { width: number } | null) => (s ? `${s.width}²` : 'no');

export async function benchMemoryPlan(): Promise<string[]> {
  const shapes = publishedFluxShapes('dev');
  const dir = mkdtempSync(join(tmpdir(), 'dype-bench-plan-'));
  const lines: string[] = [];
  try {
    const models: { label: string; file: string; model: ModelMemory; disk: number }[] = [];
    for (const f of FORMATS) {
      const weights = publishedFluxWeights(shapes, f);
      if (f.transformer === 'BF16' || f.transformer === 'F8_E4M3') {
        const graph = await fromGraph(dir, f.transformer);
        // The graph's reading and the shape tally are two roads to one number (the graph adds its few constants).
        if (Math.abs(graph.floatElements / weights.transformer.floatElements - 1) > 1e-6) throw new Error(`graph ${graph.floatElements} ≠ shapes ${weights.transformer.floatElements} weights`);
        weights.transformer = graph;
      }
      const disk = Object.values(weights.transformer.stored).reduce((a, b) => a + b, 0);
      models.push({ label: f.label, file: f.file, model: fluxModelMemory(weights), disk });
    }
    const discrete = (gpuGB: number): MachineMemory => ({ ramBytes: HOST_RAM * GB, gpuBytes: gpuGB * GB, gpuSource: 'bench', unified: false });
    const unified = (ramGB: number): MachineMemory => ({ ramBytes: ramGB * GB, gpuBytes: null, gpuSource: 'unified', unified: true });
    const cpu = (ramGB: number): MachineMemory => ({ ramBytes: ramGB * GB, gpuBytes: null, gpuSource: 'not used', unified: false });
    lines.push(
      `| transformer (+ T5) | transformer on disk | in memory: CPU (float32) | in memory: GPU (float16) | T5 + CLIP in memory | largest image, CUDA/DirectML/WebGPU-f16 GPU with ${HOST_RAM} GB RAM: ${GPU_SIZES.map((g) => `${g} GB`).join(' / ')} | Apple unified ${UNIFIED_SIZES.map((g) => `${g}`).join(' / ')} GB | CPU ${CPU_RAM.join(' / ')} GB RAM |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const { label, file, model, disk } of models) {
      const gpu = GPU_SIZES.map((g) => side(largestFitting(model, discrete(g), { provider: 'cuda' })));
      const mac = UNIFIED_SIZES.map((g) => side(largestFitting(model, unified(g), { provider: 'coreml' })));
      const host = CPU_RAM.map((g) => side(largestFitting(model, cpu(g), { provider: 'cpu' })));
      lines.push(
        `| ${label} (${file}) | ${formatGB(disk)} | ${formatGB(weightBytesInMemory(model.weights.transformer, 'float32'))} | ${formatGB(weightBytesInMemory(model.weights.transformer, 'float16'))} | ${formatGB(weightBytesInMemory(model.weights.textEncoders, 'float32'))} | ${gpu.join(' / ')} | ${mac.join(' / ')} | ${host.join(' / ')} |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

if (process.argv[1]?.endsWith('memory-plan.ts')) console.log((await benchMemoryPlan()).join('\n'));
