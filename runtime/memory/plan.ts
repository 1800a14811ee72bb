/**
 * The memory plan: before any session is created, how much each stage of a generation needs
 * (weights as they will sit in memory, plus activations at the requested size), where it runs, and
 * whether the machine holds it. Decides as ComfyUI does: text encoders go to the CPU when the GPU
 * cannot hold them beside the transformer, sessions are released between stages when memory is
 * short, and a size that cannot fit is refused with the numbers. Pure: the machine's memory and the
 * model's weights come in as numbers (machine.ts and bundle-weights.ts read them).
 */
import { weightBytesInMemory, type ComponentWeights, type Precision, PRECISION_BYTES } from './weights.ts';

export type MemoryMode = 'auto' | 'low' | 'high';
export const MEMORY_MODES: readonly MemoryMode[] = ['auto', 'low', 'high'];

export type StageName = 'text-encoders' | 'transformer' | 'vae-decode' | 'vae-encode';

/** What the planner needs of a model: its weights per component and the sizes activations scale with. */
export interface ModelMemory {
  weights: {
    /** CLIP and T5 together: they run one after the other for each prompt. */
    textEncoders: ComponentWeights;
    transformer: ComponentWeights;
    vaeDecoder: ComponentWeights;
    /** Null when the bundle has no VAE encoder (no image-to-image). */
    vaeEncoder: ComponentWeights | null;
  };
  transformer: {
    /** Hidden width (FLUX.1: 3072). */
    hidden: number;
    /** T5 tokens that join the image tokens in the joint sequence. */
    textTokens: number;
    pixelsPerToken: number;
    /** The bundle has a float16 transformer graph beside the float32 one. */
    halfGraph: boolean;
    /**
     * Heads of unfused attention (MatMul → Softmax → MatMul, as some exports have): each block then
     * holds an S×S score matrix per head. 0 when attention is fused (MultiHeadAttention).
     */
    unfusedHeads?: number;
  };
  textEncoder: { tokens: number; width: number };
  vae: {
    scaleFactorPx: number;
    /** Tile side in latent pixels (tiled decode and encode). */
    tile: number;
    /** The decoder's widest channel count (FLUX.1's ae: 512); its feature maps scale with it. */
    width: number;
  };
}

/** Memory the machine has, and where each number came from. */
export interface MachineMemory {
  /** Total RAM. */
  ramBytes: number;
  /** GPU memory when known (nvidia-smi, --gpu-memory); null when not (WebGPU gives no total). */
  gpuBytes: number | null;
  gpuSource: string;
  /** GPU and CPU share one memory (Apple silicon): the GPU's share is the RAM. */
  unified: boolean;
  /** The largest single GPU buffer the provider allows (WebGPU's maxBufferSize), when it has a limit. */
  maxBufferBytes?: number;
}

export interface PlanRequest {
  width: number;
  height: number;
  /** Execution provider that runs the transformer ('cpu', 'cuda', 'dml', 'coreml', 'webgpu'). */
  provider: string;
  /** The WebGPU adapter has shader-f16. */
  shaderF16?: boolean;
  memory?: MemoryMode;
  /** Where the text encoders already are (a loaded pipeline); otherwise the plan decides. */
  textEncoders?: 'gpu' | 'cpu';
}

export interface StagePlan {
  stage: StageName;
  /** 'gpu' or 'cpu' (RAM); on a unified-memory machine both are the same pool. */
  runsOn: 'gpu' | 'cpu';
  precision: Precision;
  weightBytes: number;
  activationBytes: number;
  /** The stage's sessions stay loaded between generations. */
  kept: boolean;
  /** VAE stages: the tile side in latent pixels (smaller than the bundle's when its tiles would not fit). */
  tile?: number;
  fits: boolean | null;
}

export interface PoolUse {
  /** What the plan needs there at its peak. */
  needBytes: number;
  /** What may be used: total minus a reserve for the OS, the driver and the runtime; null if unknown. */
  budgetBytes: number | null;
}

export interface MemoryPlan {
  width: number;
  height: number;
  provider: string;
  precision: Precision;
  /** The mode asked for, and what `auto` became. */
  memory: MemoryMode;
  release: boolean;
  stages: StagePlan[];
  ram: PoolUse;
  gpu: PoolUse | null;
  gpuSource: string;
  /** null when the GPU's memory is unknown (the GPU side cannot be checked). */
  fits: boolean | null;
  /** Why it does not fit, with the numbers; null when it fits. */
  refusal: string | null;
  notes: string[];
}

/**
 * Activations per joint-sequence token, in hidden widths: the largest set of buffers live at once
 * inside a block (the single block's fused q|k|v|MLP projection, its GELU temporaries and the
 * concatenated attention ‖ MLP rows, beside the residual stream). Measured with onnxruntime-node
 * 1.30 on the CPU provider (bench/activation-probe.ts: full-width FLUX.1 blocks, 512 text tokens,
 * peak RSS at 512 and 2048 image tokens: 328 KB per token = 26.7 hidden widths of float32); rounded up.
 */
export const TRANSFORMER_WIDTHS_PER_TOKEN = 28;

/**
 * Bytes per VAE output pixel of one tile for FLUX.1's decoder (widest level 512 channels): the
 * full-resolution 128-channel float32 maps live at once and the convolutions' workspace. Measured
 * with the full-size decoder on the CPU provider (bench/activation-probe.ts vae: 3 845 and 3 815
 * bytes per pixel at 32² and 64² latent tiles, after taking out the mid-block attention's scores);
 * rounded up to 8 such maps. Other decoders scale with their width.
 */
export const VAE_BYTES_PER_TILE_PIXEL = 128 * 4 * 8;
const VAE_REFERENCE_WIDTH = 512;

/** Providers whose kernels compute in float16 when the graph does. */
const HALF_PROVIDERS = new Set(['cuda', 'dml', 'coreml']);

const GiB = 2 ** 30;

/** The smallest VAE tile the planner falls back to, in image pixels. */
const MIN_TILE_PX = 256;

/** What a stage's activations never go below (runtime workspace, small buffers). */
const MIN_ACTIVATIONS = 64 * 2 ** 20;

/** RAM kept back for the OS and the companion; GPU memory kept back for the driver and the runtime's own buffers. */
export function ramReserve(ram: number): number {
  return Math.max(GiB, 0.1 * ram);
}
export function gpuReserve(gpu: number): number {
  return Math.max(0.5 * GiB, 0.07 * gpu);
}

/** The transformer's compute type on `provider`: float16 where the provider computes in it and the bundle has the graph. */
export function transformerPrecision(provider: string, opts: { shaderF16?: boolean; halfGraph: boolean }): Precision {
  if (!opts.halfGraph) return 'float32';
  if (HALF_PROVIDERS.has(provider)) return 'float16';
  if (provider === 'webgpu' && opts.shaderF16) return 'float16';
  return 'float32';
}

/** Image tokens of a width × height image (the pipeline rounds each side up to a whole token). */
export function imageTokens(width: number, height: number, pixelsPerToken: number): number {
  return Math.ceil(width / pixelsPerToken) * Math.ceil(height / pixelsPerToken);
}

export function transformerActivations(m: ModelMemory, width: number, height: number, precision: Precision): number {
  const tokens = imageTokens(width, height, m.transformer.pixelsPerToken) + m.transformer.textTokens;
  // Unfused attention: the scores and their softmax, S×S per head, live at once.
  const scores = 2 * tokens * tokens * (m.transformer.unfusedHeads ?? 0);
  return (tokens * TRANSFORMER_WIDTHS_PER_TOKEN * m.transformer.hidden + scores) * PRECISION_BYTES[precision];
}

/** The widest single tensor of the transformer (the single block's q|k|v|MLP rows, 7 hidden widths), for per-buffer limits. */
export function largestTransformerBuffer(m: ModelMemory, width: number, height: number, precision: Precision): number {
  const tokens = imageTokens(width, height, m.transformer.pixelsPerToken) + m.transformer.textTokens;
  return tokens * 7 * m.transformer.hidden * PRECISION_BYTES[precision];
}

/**
 * One VAE tile (decode or encode): the full-resolution feature maps of a tile, and the mid-block
 * attention's score matrix over the tile's latent pixels (the VAE's attention is not fused).
 * Tiles never exceed the image, so a small image needs less.
 */
export function vaeTileActivations(m: ModelMemory, width: number, height: number, tile: number = m.vae.tile): number {
  const f = m.vae.scaleFactorPx;
  const tileH = Math.min(tile, Math.ceil(height / f));
  const tileW = Math.min(tile, Math.ceil(width / f));
  const latentPixels = tileH * tileW;
  return (latentPixels * f * f * VAE_BYTES_PER_TILE_PIXEL * m.vae.width) / VAE_REFERENCE_WIDTH + latentPixels * latentPixels * 4;
}

/** T5's activations for one prompt: a few rows of width 4·d plus one head's scores at a time, doubled for safety. */
export function textActivations(m: ModelMemory): number {
  const { tokens, width } = m.textEncoder;
  return 2 * (tokens * 8 * width * 4 + tokens * tokens * 4 * (width / 64));
}

export const formatGB = (bytes: number): string => (bytes < 0.1e9 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e9).toFixed(bytes >= 10e9 ? 1 : 2)} GB`);

/**
 * Plans one generation. Stages on the device pool (the GPU, or RAM on the CPU provider and on
 * unified memory) and on RAM are checked against each pool's budget:
 * - `high` keeps every session loaded: a pool needs the sum of its weights plus the largest activations;
 * - `low` releases each stage's sessions after it runs (the transformer's only when it does not fit
 *   beside the others): a pool needs its largest single stage;
 * - `auto` is `high` when that fits, else `low`.
 * Text encoders run on the GPU only when they fit there beside the transformer (weights and activations).
 */
export function planMemory(model: ModelMemory, machine: MachineMemory, request: PlanRequest): MemoryPlan {
  // VAE tiles are halved (down to MIN_TILE_PX) while memory is short (the plan would not fit, or auto
  // would have to release stages) and a tile needs more than the transformer's activations: smaller
  // tiles cost a little decode time, releasing the transformer costs reloading it for every job.
  const precision = transformerPrecision(request.provider, { shaderF16: request.shaderF16, halfGraph: model.transformer.halfGraph });
  const transformerNeed = transformerActivations(model, request.width, request.height, precision);
  const short = (plan: MemoryPlan) => plan.fits === false || (plan.release && (request.memory ?? 'auto') === 'auto');
  const canHalve = (tile: number) => Number.isInteger(tile / 2) && (tile / 2) * model.vae.scaleFactorPx >= MIN_TILE_PX;
  let tile = model.vae.tile;
  let plan = planWithTile(model, machine, request, tile);
  while (short(plan) && canHalve(tile) && vaeTileActivations(model, request.width, request.height, tile) > transformerNeed) {
    tile /= 2;
    plan = planWithTile(model, machine, request, tile);
  }
  if (tile !== model.vae.tile) plan.notes.push(`VAE tiles of ${tile * model.vae.scaleFactorPx} px instead of ${model.vae.tile * model.vae.scaleFactorPx} px, to fit`);
  return plan;
}

function planWithTile(model: ModelMemory, machine: MachineMemory, request: PlanRequest, tile: number): MemoryPlan {
  const { width, height, provider } = request;
  const mode = request.memory ?? 'auto';
  const precision = transformerPrecision(provider, { shaderF16: request.shaderF16, halfGraph: model.transformer.halfGraph });
  const notes: string[] = [];
  const onGpu = provider !== 'cpu';
  const separate = onGpu && !machine.unified;
  const ramBudget = Math.max(0, machine.ramBytes - ramReserve(machine.ramBytes));
  const gpuBudget = !onGpu ? null : machine.unified ? ramBudget : machine.gpuBytes === null ? null : Math.max(0, machine.gpuBytes - gpuReserve(machine.gpuBytes));

  const stage = (name: StageName, weights: ComponentWeights, p: Precision, activations: number) => ({
    stage: name,
    precision: p,
    weightBytes: weightBytesInMemory(weights, p),
    activationBytes: Math.max(MIN_ACTIVATIONS, activations),
  });
  const text = stage('text-encoders', model.weights.textEncoders, 'float32', textActivations(model));
  const transformer = stage('transformer', model.weights.transformer, precision, transformerActivations(model, width, height, precision));
  const vaeAct = vaeTileActivations(model, width, height, tile);
  const decode = { ...stage('vae-decode', model.weights.vaeDecoder, 'float32', vaeAct), tile };
  const encode = model.weights.vaeEncoder ? { ...stage('vae-encode', model.weights.vaeEncoder, 'float32', vaeAct), tile } : null;
  const deviceStages = [transformer, decode, ...(encode ? [encode] : [])];
  const total = (s: { weightBytes: number; activationBytes: number }) => s.weightBytes + s.activationBytes;

  // Text encoders beside the transformer on the GPU, or on the CPU (ComfyUI's rule).
  let textOnGpu = onGpu;
  if (separate && request.textEncoders) textOnGpu = request.textEncoders === 'gpu';
  else if (separate) {
    textOnGpu = gpuBudget !== null && text.weightBytes + transformer.weightBytes + Math.max(text.activationBytes, transformer.activationBytes) <= gpuBudget;
    if (!textOnGpu) notes.push(gpuBudget === null ? 'GPU memory unknown: text encoders run on the CPU (set --gpu-memory to plan the GPU)' : 'text encoders run on the CPU: the GPU cannot hold them beside the transformer');
  }
  const gpuSide = separate ? [...deviceStages, ...(textOnGpu ? [text] : [])] : [];
  const ramSide = separate ? (textOnGpu ? [] : [text]) : [...deviceStages, text];

  const keptNeed = (stages: typeof deviceStages) => stages.reduce((n, s) => n + s.weightBytes, 0) + Math.max(0, ...stages.map((s) => s.activationBytes));
  // On a GPU, each model passes through RAM while its session is created (ORT reads and folds the weights there).
  const loadTransient = separate ? Math.max(0, ...gpuSide.map((s) => s.weightBytes)) : 0;
  const fitsIn = (need: number, budget: number | null) => (budget === null ? null : need <= budget);

  const highRam = keptNeed(ramSide) + loadTransient;
  const highGpu = separate ? keptNeed(gpuSide) : 0;
  const highFits = fitsIn(highRam, ramBudget) !== false && (!separate || fitsIn(highGpu, gpuBudget) !== false);
  const release = mode === 'low' || (mode === 'auto' && !highFits);
  // Released stages still keep the transformer loaded between jobs where it fits beside each other
  // stage of its pool (loading it costs the most); the rest load for their turn and are released.
  const transformerPool = separate ? gpuSide : ramSide;
  const transformerBudget = separate ? gpuBudget : ramBudget;
  const keepTransformer =
    release && transformerBudget !== null && transformerPool.every((s) => s === transformer || transformer.weightBytes + total(s) <= transformerBudget);
  const withKept = (stages: typeof deviceStages) =>
    Math.max(0, ...stages.map((s) => total(s) + (keepTransformer && s !== transformer && stages.includes(transformer) ? transformer.weightBytes : 0)));
  const ramNeed = release ? Math.max(withKept(ramSide), separate ? loadTransient : 0) : highRam;
  const gpuNeed = separate ? (release ? withKept(gpuSide) : highGpu) : 0;

  const stages: StagePlan[] = [text, transformer, decode, ...(encode ? [encode] : [])].map((s) => {
    const runsOn = s === text ? (textOnGpu ? 'gpu' : 'cpu') : onGpu ? 'gpu' : 'cpu';
    const budget = runsOn === 'gpu' ? gpuBudget : ramBudget;
    return { ...s, runsOn, kept: !release || (s === transformer && keepTransformer), fits: fitsIn(total(s), budget) };
  });

  const ram: PoolUse = { needBytes: ramNeed, budgetBytes: ramBudget };
  const gpu: PoolUse | null = onGpu ? { needBytes: separate ? gpuNeed : ramNeed, budgetBytes: gpuBudget } : null;
  const problems: string[] = [];
  const describe = (s: StagePlan) =>
    `${s.stage} needs ${formatGB(s.weightBytes + s.activationBytes)} (weights ${formatGB(s.weightBytes)} + activations ${formatGB(s.activationBytes)} at ${width}×${height})`;
  for (const s of stages) {
    if (s.fits === false) problems.push(`${describe(s)} but the ${s.runsOn === 'gpu' ? (machine.unified ? 'unified memory' : 'GPU') : 'RAM'} allows ${formatGB((s.runsOn === 'gpu' ? gpuBudget : ramBudget) ?? 0)}`);
  }
  if (!problems.length && fitsIn(ramNeed, ramBudget) === false) problems.push(`the stages need ${formatGB(ramNeed)} of RAM at once but ${formatGB(ramBudget)} is usable`);
  if (!problems.length && separate && fitsIn(gpuNeed, gpuBudget) === false) problems.push(`the stages need ${formatGB(gpuNeed)} of GPU memory but ${formatGB(gpuBudget ?? 0)} is usable`);
  if (machine.maxBufferBytes !== undefined && onGpu) {
    const widest = largestTransformerBuffer(model, width, height, precision);
    if (widest > machine.maxBufferBytes) problems.push(`the transformer's widest activation is ${formatGB(widest)} at ${width}×${height}, over the GPU's largest buffer (${formatGB(machine.maxBufferBytes)})`);
  }
  const gpuUnknown = separate && gpuBudget === null;
  if (gpuUnknown) notes.push(`GPU memory unknown (${machine.gpuSource}): only RAM was checked; pass --gpu-memory GB to check the GPU`);
  const fits = problems.length ? false : gpuUnknown ? null : true;
  return {
    width,
    height,
    provider,
    precision,
    memory: mode,
    release,
    stages,
    ram,
    gpu,
    gpuSource: onGpu ? (machine.unified ? 'unified memory (RAM)' : machine.gpuSource) : 'not used',
    fits,
    refusal: problems.length ? `${width}×${height} does not fit on ${provider}: ${problems.join('; ')}` : null,
    notes,
  };
}

/**
 * The largest image of `aspect` (width / height) that fits, in whole tokens, or null if not even
 * the smallest does. Memory grows with the pixel count, so a binary search on the side finds it.
 */
export function largestFitting(model: ModelMemory, machine: MachineMemory, request: Omit<PlanRequest, 'width' | 'height'>, opts: { aspect?: number; maxSide?: number } = {}): { width: number; height: number } | null {
  const step = model.transformer.pixelsPerToken;
  const aspect = opts.aspect ?? 1;
  const maxSide = opts.maxSide ?? 16384;
  const size = (units: number) => ({ width: units * step, height: Math.max(step, Math.round((units * step) / aspect / step) * step) });
  const fits = (units: number) => {
    const { width, height } = size(units);
    return planMemory(model, machine, { ...request, width, height }).fits !== false;
  };
  let lo = 1;
  let hi = Math.floor(maxSide / step);
  if (!fits(lo)) return null;
  if (fits(hi)) return size(hi);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return size(lo);
}

/** The plan as lines of a table: stage, where it runs, its memory, fits or not; then the pools and notes. */
export function formatPlan(plan: MemoryPlan): string[] {
  const fit = (f: boolean | null) => (f === null ? 'unknown' : f ? 'fits' : 'DOES NOT FIT');
  const lines = [
    `memory plan for ${plan.width}×${plan.height} on ${plan.provider} (transformer in ${plan.precision}, --memory ${plan.memory}${plan.memory === 'auto' ? ` → ${plan.release ? 'low' : 'high'}` : ''}: ${plan.release ? 'each stage released after it runs' : 'all sessions kept loaded'})`,
  ];
  for (const s of plan.stages) {
    lines.push(
      `  ${s.stage.padEnd(14)} ${s.runsOn.padEnd(4)} ${s.precision.padEnd(8)} weights ${formatGB(s.weightBytes).padStart(9)}  activations ${formatGB(s.activationBytes).padStart(9)}  ${fit(s.fits)}`,
    );
  }
  const pool = (name: string, p: PoolUse) => `  ${name}: needs ${formatGB(p.needBytes)} of ${p.budgetBytes === null ? 'an unknown amount' : `${formatGB(p.budgetBytes)} usable`}`;
  lines.push(pool('RAM', plan.ram));
  if (plan.gpu) lines.push(`${pool('GPU', plan.gpu)} (${plan.gpuSource})`);
  lines.push(`  ${plan.fits === false ? plan.refusal : plan.fits === null ? 'fits in RAM; the GPU side is unchecked' : 'fits'}`);
  for (const note of plan.notes) lines.push(`  note: ${note}`);
  return lines;
}
