/**
 * What a catalog model needs in memory, per provider, and whether it fits this machine: the memory
 * planner (runtime/memory/plan.ts) run on the family's published shapes in the catalog entry's stored
 * formats (bf16, city96's GGUF types), at the model's native size. Pure but for `thisMachine`.
 */
import { FLUX1_SIZES, fluxModelMemory, publishedFluxWeights, type StoredFormat } from '../memory/flux.ts';
import { publishedFluxShapes } from '../memory/flux1-published.ts';
import { machineMemory } from '../memory/machine.ts';
import { kleinModelMemory, zimageModelMemory } from '../memory/qwen3-families-published.ts';
import { planMemory, type MachineMemory, type ModelMemory } from '../memory/plan.ts';
import { GGUF_BLOCK_FORMATS } from '../memory/weights.ts';
import { familyFacts, type CatalogModel } from './catalog.ts';

/**
 * The least total memory a model runs in at its native size: the smallest machine the planner
 * says it fits (its reserves for the OS and the driver included), so it compares with what a
 * computer has.
 */
export interface CatalogMemory {
  /** On the CPU provider (float32 graphs): RAM. */
  cpu: { ramBytes: number };
  /** On a GPU provider that computes the transformer in float16 (CUDA, DirectML): GPU memory, and the RAM it then needs beside it. */
  gpu: { gpuBytes: number; ramBytes: number };
}

/** How a catalog `quantization` is stored, in the planner's terms (GGUF K-quant sizes S/M/L share their block type). */
export function storedFormat(quantization: string): StoredFormat {
  const named: Record<string, StoredFormat> = { bf16: 'BF16', fp16: 'F16', fp32: 'F32', fp8: 'F8_E4M3' };
  const gguf = quantization.replace(/_[SML]$/, '');
  const format = named[quantization] ?? (gguf in GGUF_BLOCK_FORMATS ? (gguf as StoredFormat) : undefined);
  if (!format) throw new Error(`quantization ${quantization} is not one the memory planner knows (${[...Object.keys(named), ...Object.keys(GGUF_BLOCK_FORMATS)].join(', ')})`);
  return format;
}

/** The T5 a catalog entry pulls: a GGUF file's block type (city96's t5-v1_1-xxl-encoder-Q8_0.gguf), else BFL's bf16 text_encoder_2/. */
function t5Format(model: Pick<CatalogModel, 'sources'>): StoredFormat {
  const gguf = model.sources.flatMap((s) => s.paths).map((p) => /t5[^/]*-(Q\d\w*)\.gguf$/i.exec(p)?.[1]).find(Boolean);
  return gguf ? storedFormat(gguf) : 'BF16';
}

/** The planner's view of a catalog model; null for variants the planner has no published shapes for yet. */
export function catalogModelMemory(model: Pick<CatalogModel, 'family' | 'variant' | 'quantization' | 'sources'>): ModelMemory | null {
  // klein and Z-Image rows are bf16 only: their shapes and formats are fixed
  if (model.family === 'flux2') return model.variant === 'klein-4b' && model.quantization === 'bf16' ? kleinModelMemory() : null;
  if (model.family === 'zimage') return model.variant === 'turbo' && model.quantization === 'bf16' ? zimageModelMemory() : null;
  if (model.family !== 'flux1') return null;
  const variant = model.variant === 'schnell' ? 'schnell' : 'dev';
  const weights = publishedFluxWeights(publishedFluxShapes(variant), { transformer: storedFormat(model.quantization), t5: t5Format(model) });
  return fluxModelMemory(weights, { textTokens: variant === 'schnell' ? FLUX1_SIZES.textTokensSchnell : FLUX1_SIZES.textTokensDev });
}

/** More memory than any machine has: the search's upper end, and the other pool while one is searched. */
const AMPLE_BYTES = 2 ** 46;
/** The search stops within this of the least fitting size. */
const PRECISION_BYTES = 2 ** 24;

/** The least `bytes` for which `fits(bytes)` holds (the plan fits more memory once it fits less). */
function leastFitting(fits: (bytes: number) => boolean): number {
  let [low, high] = [0, AMPLE_BYTES];
  while (high - low > PRECISION_BYTES) {
    const mid = (low + high) / 2;
    if (fits(mid)) high = mid;
    else low = mid;
  }
  return high;
}

/** Catalog entries are read once and never change: each one's numbers are worked out once. */
const known = new WeakMap<CatalogModel, CatalogMemory | null>();

export function catalogMemory(model: CatalogModel): CatalogMemory | null {
  if (!known.has(model)) known.set(model, leastMemory(model));
  return known.get(model)!;
}

function leastMemory(model: CatalogModel): CatalogMemory | null {
  const memory = catalogModelMemory(model);
  if (!memory) return null;
  const side = familyFacts(model).nativeSize;
  const fits = (provider: string, ramBytes: number, gpuBytes: number | null) =>
    planMemory(memory, { ramBytes, gpuBytes, gpuSource: 'catalog', unified: false }, { width: side, height: side, provider }).fits === true;
  const gpuBytes = leastFitting((gpu) => fits('cuda', AMPLE_BYTES, gpu));
  return {
    cpu: { ramBytes: leastFitting((ram) => fits('cpu', ram, null)) },
    gpu: { gpuBytes, ramBytes: leastFitting((ram) => fits('cuda', ram, gpuBytes)) },
  };
}

/**
 * Whether the model runs at its native size on `provider` with this machine's memory (the planner
 * decides as for a generation: --memory auto); null when it cannot tell (no planner model for the
 * family, or GPU memory unknown).
 */
export function fitsMachine(model: CatalogModel, machine: MachineMemory, provider: string): boolean | null {
  const memory = catalogModelMemory(model);
  if (!memory) return null;
  const side = familyFacts(model).nativeSize;
  return planMemory(memory, machine, { width: side, height: side, provider }).fits;
}

/** This machine's memory and the provider to judge by: CUDA where nvidia-smi finds a GPU, else the CPU. */
export async function thisMachine(ramBytes?: number): Promise<{ provider: string; machine: MachineMemory }> {
  const cuda = await machineMemory('cuda', { ramBytes });
  if (cuda.gpuBytes !== null) return { provider: 'cuda', machine: cuda };
  return { provider: 'cpu', machine: await machineMemory('cpu', { ramBytes }) };
}
