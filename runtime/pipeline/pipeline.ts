/**
 * Text-to-image and image-to-image on a bundle of any model family with per-step DyPE positions.
 * What differs between families (text encoders, feeds, RoPE axes, latent normalisation) comes from
 * the family object (runtime/families). `generate` reads as a recipe: check → encode prompt →
 * latents and positions (init encoded) → schedule → denoise (kept region blended) → unpack → decode
 * → composite kept pixels → encode.
 */
import { partialSigmas, fluxRopeFrequencies, fluxRopeTables, type DypeOptions, type RopeMethod } from '../dype/index.ts';
import { checkContract } from '../bundle/contract.ts';
import { readBundle, type Bundle } from '../bundle/read.ts';
import { familyOf, type LoadedEncoder, type ModelFamily } from '../families/index.ts';
import { decodeTiled, type TileConfig } from './decode.ts';
import { createDenoiser, createDeviceSteppers, type DeviceSteppers } from './denoise.ts';
import { PipelineError } from './errors.ts';
import { encodeTiled, initCanvas } from './encode.ts';
import { encodeImage, MIME_TYPES, type Crop } from './image.ts';
import { fillMaskFeatures, interleaveTokens, packedFillMask, transformerKind } from './fill.ts';
import { blendTowardInit, compositeKept, latentKeepMask, type KeepRect } from './keep.ts';
import { packLatents, unpackLatents, type LatentShape } from './latents.ts';
import { sizeIndependentNoise } from './noise.ts';
import { createSession, resolveProvider, type Session, type TensorData } from './ort.ts';
import { StageSession, useStages } from './stages.ts';
import type { Device, ProviderSelection } from './providers.ts';
import { bundleModelMemory } from '../memory/graph-weights.ts';
import { machineMemory } from '../memory/machine.ts';
import { largestFitting, planMemory, type MachineMemory, type MemoryMode, type MemoryPlan, type ModelMemory, type StageName } from '../memory/plan.ts';
import { previewPng, projectLatent } from './preview.ts';
import { PromptTokenizer } from './text.ts';
import { z } from 'zod';
import { fields, GENERATION_DEFAULTS, intIn } from '../contract/rules.ts';
import { GENERATION_METHODS, MIN_SIDE, resolveDypeExponent, type Engine, type EngineInfo, type GenerateOptions, type GenerateRequest, type GenerateResult, type GenerationMethod } from './types.ts';

export const METHOD_ROPE: Readonly<Record<GenerationMethod, { method: RopeMethod; dynamic: boolean }>> = Object.freeze({
  'dy-yarn': { method: 'yarn', dynamic: true },
  'dy-vision-yarn': { method: 'vision-yarn', dynamic: true },
  'dy-ntk': { method: 'ntk', dynamic: true },
  'dy-pi': { method: 'pi', dynamic: true },
  yarn: { method: 'yarn', dynamic: false },
  ntk: { method: 'ntk', dynamic: false },
  pi: { method: 'pi', dynamic: false },
  base: { method: 'base', dynamic: false },
});


export interface PipelineInfo extends EngineInfo {
  description: string;
  /** How the transformer takes positions: compact ω/mscale or full cos/sin tables. */
  ropeInputs: 'omega' | 'tables';
  guidanceEmbeds: boolean;
  /** The latents stay in GPU memory between denoising steps (WebGPU). */
  latentsOnDevice: boolean;
  /** A FLUX Fill transformer: it takes the masked image and the mask beside the latents. */
  fill: boolean;
  /** The memory plan at the native size (runtime/memory/plan.ts): each stage, where it runs, its memory. */
  memoryPlan: MemoryPlan;
}

/** What the memory plan needs to plan each request: the model's weights and the machine. */
interface MemoryContext {
  model: ModelMemory;
  machine: MachineMemory;
  provider: string;
  /** How the provider was chosen (providers skipped under auto, the WebGPU adapter). */
  selection: ProviderSelection;
  shaderF16: boolean;
  mode: MemoryMode;
  /** Where the text encoders were loaded: every request's plan keeps them there. */
  textEncoders?: 'gpu' | 'cpu';
}

export interface LoadOptions {
  device?: Device;
  log?: (line: string) => void;
  /** Keep the latents in GPU memory between steps where the provider can (WebGPU); by default only on a hardware adapter. */
  keepOnDevice?: boolean;
  /** Release each stage's sessions after it runs: `low`; keep them all: `high`; `auto` (default) decides by the plan. */
  memory?: MemoryMode;
  /** GPU memory in GB, for machines where it cannot be found (WebGPU, no nvidia-smi). */
  gpuMemoryGB?: number;
  /** A size the caller will ask for (`dype generate`): refused here, before any model loads, if it cannot fit. */
  size?: { width: number; height: number };
}

/** Each model's session, held as the memory plan says (stages.ts). */
type Stages = { transformer: StageSession; vae: StageSession; vaeEncoder?: StageSession; text: Record<string, StageSession> };

/** Token grid and centre crop for an exact pixel size. */
export interface SizePlan {
  rows: number;
  cols: number;
  generatedWidth: number;
  generatedHeight: number;
  crop: { left: number; top: number; width: number; height: number };
}

export function planSize(width: number, height: number, pixelsPerToken: number): SizePlan {
  const rows = Math.ceil(height / pixelsPerToken);
  const cols = Math.ceil(width / pixelsPerToken);
  const generatedWidth = cols * pixelsPerToken;
  const generatedHeight = rows * pixelsPerToken;
  return {
    rows,
    cols,
    generatedWidth,
    generatedHeight,
    crop: { left: Math.floor((generatedWidth - width) / 2), top: Math.floor((generatedHeight - height) / 2), width, height },
  };
}

/** Every field filled in; an `auto` λt is resolved for the size, and `dypeExponentAuto` remembers it was. */
type ResolvedRequest = Required<Omit<GenerateRequest, 'dypeExponent' | 'init' | 'strength' | 'keep'>> &
  Pick<GenerateRequest, 'init' | 'keep'> & { strength: number; dypeExponent: number; dypeExponentAuto: boolean };

export class Pipeline implements Engine {
  readonly info: PipelineInfo;
  private readonly tiles: TileConfig;
  /** Each text encoder's tokenizer and prompt length, by the family's encoder key (its session comes from its stage). */
  private readonly encoders: Record<string, Omit<LoadedEncoder, 'session'>>;

  private constructor(
    private readonly bundle: Bundle,
    private readonly family: ModelFamily,
    private readonly sessions: Stages,
    tokenizers: Record<string, PromptTokenizer>,
    private readonly log: (line: string) => void,
    private readonly steppers: DeviceSteppers | null,
    private readonly memory: MemoryContext,
    memoryPlan: MemoryPlan,
  ) {
    const c = bundle.config;
    const t = sessions.transformer.signature;
    const ropeInputs = c.rope.inputs;
    const largest = largestFitting(memory.model, memory.machine, { provider: memory.provider, shaderF16: memory.shaderF16, memory: memory.mode, textEncoders: memory.textEncoders }, { maxSide: c.limits.maxSide });
    this.info = Object.freeze({
      model: c.name,
      family: family.label,
      demo: c.demo,
      description: c.description,
      nativeResolution: c.nativeResolution,
      pixelsPerToken: c.pixelsPerToken,
      maxSide: c.limits.maxSide,
      // The plan's largest image caps the bundle's limit: larger sizes are refused before they load anything.
      maxPixels: largest ? Math.min(c.limits.maxPixels, largest.width * largest.height) : c.limits.maxPixels,
      provider: t.provider,
      providerSelection: memory.selection,
      defaultSteps: c.defaults.steps,
      defaultGuidance: c.defaults.guidance,
      defaultDypeScale: c.defaults.dypeScale,
      defaultDypeExponent: c.defaults.dypeExponent,
      methods: GENERATION_METHODS,
      imageToImage: sessions.vaeEncoder !== undefined,
      ropeInputs,
      guidanceEmbeds: t.has('guidance'),
      latentsOnDevice: steppers !== null,
      fill: hiddenKind(t, c) === 'fill',
      memoryPlan,
    });
    const nativeLatent = c.nativeResolution / c.vae.scaleFactorPx;
    this.tiles = c.decode ?? { tile: nativeLatent, overlap: Math.max(1, Math.floor(nativeLatent / 4)) };
    const lengths = family.textLengths(c, t);
    this.encoders = Object.fromEntries(Object.keys(sessions.text).map((key) => [key, { tokenizer: tokenizers[key], length: lengths[key] }]));
  }

  /**
   * Loads a bundle. The provider is chosen first (on a one-node graph), then the memory plan decides,
   * before any model is loaded, the transformer's precision, where the text encoders run and which
   * stages stay loaded; a model that cannot fit at any size, or `opts.size` if it cannot, is refused
   * with the numbers. Models load one at a time, so loading never needs more than the largest at once.
   */
  static async load(dir: string, opts: LoadOptions = {}): Promise<Pipeline> {
    const bundle = readBundle(dir);
    const log = opts.log ?? (() => {});
    const family = familyOf(bundle.config.family);
    const textKeys = Object.keys(bundle.text);
    const tokenizers = Object.fromEntries(textKeys.map((key) => [key, PromptTokenizer.load(bundle.text[key].tokenizer)]));
    const { provider, selection } = await resolveProvider(opts.device ?? 'auto', log);
    const c = bundle.config;
    const memory: MemoryContext = {
      model: bundleModelMemory(
        { transformer: bundle.paths.transformer, halfTransformer: bundle.halfTransformer, textEncoders: textKeys.map((key) => bundle.text[key].model), vaeDecoder: bundle.paths.vaeDecoder, vaeEncoder: bundle.vaeEncoder },
        { pixelsPerToken: c.pixelsPerToken, textTokens: Math.max(...Object.values(c.text)), vaeScaleFactorPx: c.vae.scaleFactorPx, decodeTile: c.decode?.tile ?? c.nativeResolution / c.vae.scaleFactorPx },
      ),
      machine: await machineMemory(provider, { gpuMemoryGB: opts.gpuMemoryGB, maxBufferBytes: selection.adapter?.maxBufferBytes }),
      provider,
      selection,
      shaderF16: selection.adapter?.shaderF16 ?? false,
      mode: opts.memory ?? 'auto',
    };
    const smallest = planRequest(memory, MIN_SIDE, MIN_SIDE);
    if (smallest.fits === false) throw new PipelineError('insufficient_memory', `${c.name} does not fit this machine at any size: ${smallest.refusal}`);
    const asked = opts.size && planRequest(memory, opts.size.width, opts.size.height);
    if (asked && asked.fits === false) {
      const largest = largestFitting(memory.model, memory.machine, { provider, shaderF16: memory.shaderF16, memory: memory.mode }, { maxSide: c.limits.maxSide });
      throw new PipelineError('size_out_of_range', `${asked.refusal}${largest ? `; the largest image that fits is about ${largest.width}×${largest.height}` : ''}`);
    }
    // Sessions are placed as the plan at the native size places them; each request's plan then says which stay loaded.
    const native = planRequest(memory, c.nativeResolution, c.nativeResolution);
    const stage = (name: StageName) => native.stages.find((s) => s.stage === name)!;
    memory.textEncoders = stage('text-encoders').runsOn;
    const textDevice: Device = stage('text-encoders').runsOn === 'cpu' ? 'cpu' : provider;
    const transformerPath = stage('transformer').precision === 'float16' && bundle.halfTransformer ? bundle.halfTransformer : bundle.paths.transformer;
    const outputsOnDevice = stage('transformer').kept ? (opts.keepOnDevice ?? 'on-hardware') : false;
    const opened: StageSession[] = [];
    let steppers: DeviceSteppers | null = null;
    /** Loads one model to check it; a stage the plan releases is released again before the next loads. */
    const open = async (path: string, device: Device, kept: boolean, sessionOpts: Parameters<typeof createSession>[3] = {}) => {
      const create = () => createSession(path, device, log, sessionOpts);
      const session = await create();
      if (!kept) await session.release();
      const held = new StageSession(session, create, kept);
      opened.push(held);
      return held;
    };
    try {
      const transformer = await open(transformerPath, provider, stage('transformer').kept, { outputsOnDevice });
      const text: Record<string, StageSession> = {};
      for (const key of textKeys) text[key] = await open(bundle.text[key].model, textDevice, stage('text-encoders').kept);
      const vae = await open(bundle.paths.vaeDecoder, provider, stage('vae-decode').kept);
      const vaeEncoder = bundle.vaeEncoder ? await open(bundle.vaeEncoder, provider, stage('vae-encode').kept) : undefined;
      const t = transformer.signature;
      checkContract(family.contract, { transformer: t, vae: vae.signature, text: Object.fromEntries(textKeys.map((key) => [key, text[key].signature])) }, c.rope.axesDim.reduce((a, d) => a + d / 2, 0));
      const takes = t.has('rope_omega') ? 'omega' : 'tables';
      if (takes !== c.rope.inputs) {
        throw new PipelineError('bundle_invalid', `dype.json says rope.inputs "${c.rope.inputs}" but ${t.path} takes ${takes === 'omega' ? 'rope_omega/rope_mscale' : 'rope_cos/rope_sin'}`);
      }
      const kind = hiddenKind(t, c);
      if (kind === null) {
        const f = c.latentChannels * c.patchSize ** 2;
        throw new PipelineError('bundle_invalid', `${t.path} takes hidden_states of width ${String(t.input('hidden_states').shape[2])}; expected ${f} (latents) or, for FLUX Fill, ${f} + ${f} (masked image) + ${fillMaskFeatures(c.vae.scaleFactorPx, c.patchSize)} (mask)`);
      }
      if (kind === 'fill' && !vaeEncoder) throw new PipelineError('bundle_invalid', `${t.path} is a FLUX Fill transformer, which needs the bundle's VAE encoder (dype.json vae.encoder)`);
      if (vaeEncoder && !vaeEncoder.signature.outputNames.includes('latent_parameters')) {
        throw new PipelineError('bundle_invalid', `${vaeEncoder.signature.path} must output latent_parameters (mean ‖ log-variance), as optimum exports it`);
      }
      if (t.outputsOnDevice) steppers = await createDeviceSteppers(t);
      return new Pipeline(bundle, family, { transformer, vae, text, ...(vaeEncoder ? { vaeEncoder } : {}) }, tokenizers, log, steppers, memory, native);
    } catch (error) {
      // Nothing half-loaded stays in memory: release every session that was created.
      await Promise.all([...opened.map((held) => held.release()), ...Object.values(steppers ?? {}).map((session) => session.release())]);
      throw error;
    }
  }

  /** The sessions loaded now (the plan releases the others between their turns). */
  get loadedStages(): string[] {
    return Object.entries(this.stageSessions()).filter(([, held]) => held.loaded).map(([name]) => name);
  }

  /** The memory plan for one request size on this pipeline's provider and machine. */
  planFor(width: number, height: number): MemoryPlan {
    return planRequest(this.memory, width, height);
  }

  async dispose(): Promise<void> {
    await Promise.all([...Object.values(this.stageSessions()), ...Object.values(this.steppers ?? {})].map((s) => s.release()));
  }

  /**
   * Fills defaults and checks every field with the contract's rules (contract/rules.ts, the same the
   * companion, the CLI and the plugin use) and this bundle's size caps; errors name the field and the range.
   */
  resolveRequest(req: GenerateRequest): ResolvedRequest {
    const c = this.bundle.config;
    const side = intIn(MIN_SIDE, c.limits.maxSide);
    const width = checkField(side, req.width, 'width', 'size_out_of_range');
    const height = checkField(side, req.height, 'height', 'size_out_of_range');
    if (width * height > c.limits.maxPixels) {
      throw new PipelineError('size_out_of_range', `${width}×${height} is ${width * height} px; this model allows at most ${c.limits.maxPixels}`);
    }
    for (const field of ['strength', 'keep'] as const) {
      if (req[field] !== undefined && !req.init) throw new PipelineError('bad_request', `${field} needs init: the image to start from`);
    }
    if (req.init && !this.sessions.vaeEncoder) throw new PipelineError('bad_request', `${c.name} has no VAE encoder (vae_encoder/), so it cannot start from an image`);
    const keep = req.keep && checkField(fields.keep, req.keep, 'keep');
    if (keep && (keep.x + keep.width > width || keep.y + keep.height > height)) {
      throw new PipelineError('bad_request', `keep must lie within the ${width}×${height} output, got ${keep.width}×${keep.height} at (${keep.x}, ${keep.y})`);
    }
    const exponent = checkField(fields.dypeExponent, req.dypeExponent ?? c.defaults.dypeExponent, 'dypeExponent');
    return {
      prompt: checkField(z.string({ error: 'must be a string' }), req.prompt, 'prompt'),
      width,
      height,
      init: req.init,
      strength: req.init ? checkField(fields.strength, req.strength ?? GENERATION_DEFAULTS.strength, 'strength') : 1,
      keep,
      seed: checkField(fields.seed, req.seed, 'seed'),
      steps: checkField(fields.steps, req.steps ?? c.defaults.steps, 'steps'),
      guidance: checkField(fields.guidance, req.guidance ?? c.defaults.guidance ?? 0, 'guidance'),
      method: checkField(fields.method, req.method ?? GENERATION_DEFAULTS.method, 'method'),
      format: checkField(fields.format, req.format ?? GENERATION_DEFAULTS.format, 'format'),
      dypeScale: checkField(fields.dypeScale, req.dypeScale ?? c.defaults.dypeScale, 'dypeScale'),
      dypeExponent: resolveDypeExponent(exponent, width, height, c.nativeResolution),
      dypeExponentAuto: exponent === 'auto',
      yarnScaling: checkField(fields.yarnScaling, req.yarnScaling ?? GENERATION_DEFAULTS.yarnScaling, 'yarnScaling'),
    };
  }

  async generate(request: GenerateRequest, opts: GenerateOptions = {}): Promise<GenerateResult> {
    const started = performance.now();
    const ortBefore = this.ortMs();
    let peakRss = process.memoryUsage.rss();
    const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage.rss()));
    const throwIfAborted = () => {
      if (opts.signal?.aborted) throw new PipelineError('cancelled', 'generation cancelled');
    };
    const c = this.bundle.config;
    const { transformer: transformerStage, vae } = this.sessions;
    const transformer = transformerStage.signature;

    // 1. Check inputs, and that this size fits the machine (before any stage loads or runs).
    const req = this.resolveRequest(request);
    const memoryPlan = this.planFor(req.width, req.height);
    if (memoryPlan.fits === false) {
      const side = Math.floor(Math.sqrt(this.info.maxPixels));
      throw new PipelineError('size_out_of_range', `${memoryPlan.refusal}; the largest image that fits is ${(this.info.maxPixels / 1e6).toFixed(1)} MP (about ${side}×${side})`);
    }
    const kept = keptStages(memoryPlan);
    // Stages a smaller request kept loaded make room now if this size's plan releases them.
    for (const [name, held] of Object.entries(this.stageSessions())) if (held.loaded && !kept[stageOf(name)]) await held.release();
    throwIfAborted();

    // 2. Encode the prompt.
    const text = await useStages(this.sessions.text, kept['text-encoders'], (sessions) =>
      this.family.encodePrompt(req.prompt, Object.fromEntries(Object.entries(this.encoders).map(([key, e]) => [key, { ...e, session: sessions[key] }])), this.log),
    );
    const encodeTextMs = performance.now() - started;

    // 3. Latents and positions; the init image encoded (image-to-image).
    const plan = planSize(req.width, req.height, c.pixelsPerToken);
    const latentShape = { channels: c.latentChannels, height: plan.rows * c.patchSize, width: plan.cols * c.patchSize };
    const noise = packLatents(sizeIndependentNoise(req.seed, latentShape), latentShape, c.patchSize);
    const encodeInitStart = performance.now();
    const init = req.init ? await this.encodeInit(req.init.bytes, plan, latentShape, req.keep, throwIfAborted, kept['vae-encode']) : null;
    // FLUX Fill: the kept image and the mask go in as a condition, instead of being blended in per step.
    const condition = this.info.fill ? await this.fillConditionFor(init, plan, latentShape, throwIfAborted, kept['vae-encode']) : null;
    const encodeInitMs = performance.now() - encodeInitStart;
    throwIfAborted();
    const tokens = plan.rows * plan.cols;
    const features = c.latentChannels * c.patchSize * c.patchSize;
    const textTokens = text.textTokens;
    const grid = { height: plan.rows, width: plan.cols, textTokens };
    const rope: DypeOptions = {
      ...METHOD_ROPE[req.method],
      lambdaS: req.dypeScale,
      lambdaT: req.dypeExponent,
      yarnScaling: req.yarnScaling,
      baseLength: c.nativeResolution / c.pixelsPerToken,
      theta: c.rope.theta,
      axesDim: c.rope.axesDim,
      axisRoles: this.family.axisRoles(c),
    };
    const fixedFeeds: Record<string, TensorData> = {
      ...text.feeds,
      ...this.family.positionFeeds({ rows: plan.rows, cols: plan.cols, textTokens }, transformer),
    };
    const guidance = this.family.guidanceFeed(req.guidance);
    if (guidance && Object.keys(guidance).every((name) => transformer.has(name))) Object.assign(fixedFeeds, guidance);
    // Static methods do not depend on σ: their positions are computed once, like the other fixed feeds.
    if (!rope.dynamic) Object.assign(fixedFeeds, this.ropeFeeds(grid, 1, rope));
    for (const name of Object.keys(fixedFeeds)) fixedFeeds[name] = transformer.prepare(name, fixedFeeds[name]);

    // 4. Schedule: from σ = strength (image-to-image), or all of it when a keep region leaves new area to draw.
    const sigmas = partialSigmas(req.steps, tokens, this.bundle.shift, req.keep ? 1 : req.strength);
    const steps = sigmas.length - 1;
    // x_σ = (1 − σ)·x₀ + σ·ε; at σ = 1 that is ε exactly, text-to-image's start.
    const start = init ? noiseTo(init.latent, noise, sigmas[0]) : noise;

    // 5. Denoise: one transformer call per step, positions rescaled for that step's sigma. Where the
    // init is kept, each step ends on the init's own trajectory while σ ≥ strength (RePaint).
    const denoiseStart = performance.now();
    const transformerOrtBefore = transformerStage.runMs;
    const keepMask = init?.keepMask;
    const afterStep = init && keepMask
      ? (x: Float32Array, sigmaNext: number) => {
          if (sigmaNext >= req.strength) blendTowardInit(x, init.latent, noise, keepMask, sigmaNext);
        }
      : undefined;
    const latents = await transformerStage.use(kept.transformer, async (transformer) => {
    // Frees what the denoiser holds on the device however generate ends. Extend's blend and Fill's
    // condition work on host latents, so on a GPU those runs read them back each step.
    using denoiser = createDenoiser(transformer, this.steppers, start, [1, tokens, features], { condition: condition ?? undefined, afterStep });
    for (let i = 0; i < steps; i++) {
      throwIfAborted();
      const sigma = sigmas[i];
      const feeds: Record<string, TensorData> = {
        ...fixedFeeds,
        ...(rope.dynamic ? this.ropeFeeds(grid, sigma, rope) : {}),
        timestep: { type: 'float32', data: Float32Array.of(this.family.timestep(sigma)), dims: [1] },
      };
      const stepped = await denoiser.step(feeds, sigma, sigmas[i + 1], { last: i + 1 === steps });
      sampleRss();
      const elapsedMs = performance.now() - denoiseStart;
      // a preview drawn during the callback estimates x0 from this step's velocity and latents
      opts.onEvent?.({
        kind: 'step',
        step: i + 1,
        steps,
        sigma,
        elapsedMs,
        etaMs: (elapsedMs / (i + 1)) * (steps - i - 1),
        feeds: stepped?.fed ? { ...feeds, hidden_states: stepped.fed } : feeds,
        preview: stepped ? async () => this.preview(await stepped.x0(), latentShape) : undefined,
      });
    }
    return denoiser.latents();
    });
    const denoiseMs = performance.now() - denoiseStart;
    const denoiseOrtMs = transformerStage.runMs - transformerOrtBefore;
    throwIfAborted();

    // 6. Undo the VAE's latent normalisation and unpack.
    this.family.toVaeLatents(latents, c);
    const latent = unpackLatents(latents, latentShape, c.patchSize);

    // 7. Decode in overlapping tiles.
    const decodeStart = performance.now();
    const tiles = this.tilesFor(memoryPlan);
    const rgb = await vae.use(kept['vae-decode'], (decoder) => decodeTiled(latent, latentShape, c.vae.scaleFactorPx, tiles, async (tile, h, w) => {
      throwIfAborted();
      const out = await decoder.run({ [decoder.inputs[0].name]: { type: 'float32', data: tile, dims: [1, c.latentChannels, h, w] } });
      sampleRss();
      return out[decoder.outputNames[0]].data as Float32Array;
    }, (tile, tiles) => opts.onEvent?.({ kind: 'decode', tile, tiles })));
    const decodeMs = performance.now() - decodeStart;

    // 8. Extend: the kept pixels are the init's exactly, feathered into the new area.
    if (init?.keep) compositeKept(rgb, init.rgb, plan.generatedWidth, plan.generatedHeight, init.keep);

    // 9. Crop to the exact size and encode with the parameters embedded.
    const encodeStart = performance.now();
    const { init: initImage, strength, keep, ...common } = req;
    const imageToImage = initImage ? { init: initImage.id, strength, ...(keep ? { keep } : {}) } : {};
    const metadata = {
      prompt: req.prompt,
      seed: String(req.seed),
      size: `${req.width}x${req.height}`,
      steps: String(req.steps),
      method: req.method,
      dype: `scale ${req.dypeScale}, exponent ${req.dypeExponent}${req.dypeExponentAuto ? ' (auto)' : ''}`,
      guidance: String(req.guidance),
      model: c.name,
      ...Object.fromEntries(Object.entries(imageToImage).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)])),
      parameters: JSON.stringify({ ...common, ...imageToImage, model: c.name }),
    };
    const image = await encodeImage({ data: rgb, width: plan.generatedWidth, height: plan.generatedHeight }, req.format, plan.crop, metadata);
    sampleRss();
    const encodeMs = performance.now() - encodeStart;

    return {
      image,
      format: req.format,
      mimeType: MIME_TYPES[req.format],
      width: req.width,
      height: req.height,
      seed: req.seed,
      steps: req.steps,
      method: req.method,
      dypeScale: req.dypeScale,
      dypeExponent: req.dypeExponent,
      dypeExponentAuto: req.dypeExponentAuto,
      model: c.name,
      timings: {
        totalMs: performance.now() - started,
        encodeTextMs,
        ...(init ? { encodeInitMs } : {}),
        denoiseMs,
        perStepMs: steps > 0 ? denoiseMs / steps : 0,
        decodeMs,
        encodeMs,
        ortMs: this.ortMs() - ortBefore,
        denoiseOrtMs,
      },
      peakRssBytes: peakRss,
    };
  }

  /**
   * The init image on the generated canvas (resized to the output, or to the keep rectangle and placed
   * there), its latent x₀ packed like the noise, and for Extend the keep mask in the same layout.
   */
  private async encodeInit(bytes: Uint8Array, plan: SizePlan, shape: LatentShape, keep: KeepRect | undefined, checkAbort: () => void, keepEncoder: boolean) {
    const c = this.bundle.config;
    const canvas = { width: plan.generatedWidth, height: plan.generatedHeight };
    const place: Crop = keep ? { left: plan.crop.left + keep.x, top: plan.crop.top + keep.y, width: keep.width, height: keep.height } : plan.crop;
    let rgb: Uint8Array;
    try {
      rgb = await initCanvas(bytes, canvas, place);
    } catch (error) {
      throw new PipelineError('bad_request', `init is not a readable image: ${(error as Error).message}`, { cause: error });
    }
    const latent = await this.encodeCanvas(rgb, canvas.width, canvas.height, shape, checkAbort, keepEncoder);
    if (!keep) return { latent, rgb, keep: null, keepMask: null };
    const onCanvas = keepOnCanvas(keep, plan);
    // FLUX Fill takes the kept region as its condition: no per-step blend, so no mask
    if (this.info.fill) return { latent, rgb, keep: onCanvas, keepMask: null };
    const mask = latentKeepMask(onCanvas, shape.height, shape.width, c.vae.scaleFactorPx);
    const perChannel = new Float32Array(shape.channels * mask.length);
    for (let ch = 0; ch < shape.channels; ch++) perChannel.set(mask, ch * mask.length);
    return { latent, rgb, keep: onCanvas, keepMask: packLatents(perChannel, shape, c.patchSize) };
  }

  /** The Fill condition: the init with the area to draw set to mid grey, encoded, and the mask (all drawn without a keep). */
  private async fillConditionFor(init: { rgb: Uint8Array; keep: KeepRect | null } | null, plan: SizePlan, shape: LatentShape, checkAbort: () => void, keepEncoder: boolean): Promise<Float32Array> {
    const c = this.bundle.config;
    const { generatedWidth: W, generatedHeight: H } = plan;
    const keep = init?.keep ?? null;
    const masked = new Uint8Array(W * H * 3).fill(128);
    if (init && keep) {
      for (let y = keep.y; y < keep.y + keep.height; y++) masked.set(init.rgb.subarray((y * W + keep.x) * 3, (y * W + keep.x + keep.width) * 3), (y * W + keep.x) * 3);
    }
    const latent = await this.encodeCanvas(masked, W, H, shape, checkAbort, keepEncoder);
    const tokens = (shape.height / c.patchSize) * (shape.width / c.patchSize);
    return interleaveTokens(latent, packedFillMask(keep, shape, c.vae.scaleFactorPx, c.patchSize), tokens);
  }

  /** Interleaved RGB of the generated canvas → the VAE's latent mean, packed and in model space, encoded in tiles (a cancel stops between tiles). */
  private async encodeCanvas(rgb: Uint8Array, width: number, height: number, shape: LatentShape, checkAbort: () => void, keepEncoder: boolean): Promise<Float32Array> {
    const c = this.bundle.config;
    const tiles = this.tilesFor(this.planFor(width, height));
    const mean = await this.sessions.vaeEncoder!.use(keepEncoder, (encoder) => encodeTiled(rgb, width, height, c.vae.scaleFactorPx, c.latentChannels, tiles, async (image, h, w) => {
      checkAbort();
      const out = await encoder.run({ sample: { type: 'float32', data: image, dims: [1, 3, h, w] } });
      return out.latent_parameters.data as Float32Array;
    }));
    const packed = packLatents(mean, shape, c.patchSize);
    this.family.fromVaeLatents(packed, c);
    return packed;
  }

  /** Every model's stage by name: transformer, vae, vaeEncoder and the text encoders' keys. */
  private stageSessions(): Record<string, StageSession> {
    const { text, ...models } = this.sessions;
    return { ...models, ...text };
  }

  /** The bundle's decode tiles, or the plan's smaller ones where its tiles would not fit (overlap and margin scaled alike). */
  private tilesFor(plan: MemoryPlan): TileConfig {
    const planned = plan.stages.find((s) => s.stage === 'vae-decode')?.tile;
    if (planned === undefined || planned >= this.tiles.tile) return this.tiles;
    const scale = (n: number) => Math.floor((n * planned) / this.tiles.tile);
    return { tile: planned, overlap: Math.max(1, scale(this.tiles.overlap)), ...(this.tiles.margin === undefined ? {} : { margin: scale(this.tiles.margin) }) };
  }

  private ortMs(): number {
    return Object.values(this.stageSessions()).reduce((sum, s) => sum + s.runMs, 0);
  }

  /** rope_omega/rope_mscale (a few hundred numbers), or full cos/sin tables for graphs that want them. */
  private ropeFeeds(grid: { height: number; width: number; textTokens: number }, sigma: number, rope: DypeOptions): Record<string, TensorData> {
    if (this.info.ropeInputs === 'omega') {
      const { omega, mscale } = fluxRopeFrequencies(grid, sigma, rope);
      return {
        rope_omega: { type: 'float32', data: Float32Array.from(omega), dims: [omega.length] },
        rope_mscale: { type: 'float32', data: Float32Array.from(mscale), dims: [mscale.length] },
      };
    }
    const { cos, sin, dim } = fluxRopeTables(grid, sigma, rope);
    const rows = cos.length / dim;
    return {
      rope_cos: { type: 'float32', data: cos, dims: [rows, dim] },
      rope_sin: { type: 'float32', data: sin, dims: [rows, dim] },
    };
  }

  private async preview(x0Packed: Float32Array, shape: { channels: number; height: number; width: number }) {
    const c = this.bundle.config;
    const x0 = unpackLatents(x0Packed, shape, c.patchSize);
    const rgb = projectLatent(x0, shape.channels, shape.height, shape.width, c.preview);
    return previewPng(rgb, shape.width, shape.height);
  }
}

/** The memory plan for one size on the pipeline's provider and machine (text encoders where they were loaded). */
function planRequest(memory: MemoryContext, width: number, height: number): MemoryPlan {
  return planMemory(memory.model, memory.machine, { width, height, provider: memory.provider, shaderF16: memory.shaderF16, memory: memory.mode, textEncoders: memory.textEncoders });
}

/** The plan's stage of each session: the named models, and the text encoders under their keys. */
function stageOf(name: string): StageName {
  return name === 'transformer' ? 'transformer' : name === 'vae' ? 'vae-decode' : name === 'vaeEncoder' ? 'vae-encode' : 'text-encoders';
}

/** Whether the plan keeps each stage loaded after it runs. */
function keptStages(plan: MemoryPlan): Record<StageName, boolean> {
  const kept: Record<StageName, boolean> = { 'text-encoders': false, transformer: false, 'vae-decode': false, 'vae-encode': false };
  for (const s of plan.stages) kept[s.stage] = s.kept;
  return kept;
}

/** `value` if it fits `schema`, else a PipelineError naming the field, the rule and the value. */
function checkField<T>(schema: z.ZodType<T>, value: unknown, name: string, code: 'bad_request' | 'size_out_of_range' = 'bad_request'): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new PipelineError(code, `${name} ${parsed.error.issues[0]?.message ?? 'is not valid'}, got ${String(value)}`);
}

/** The kind of transformer feed, from the width of hidden_states (a dynamic width is taken as plain). */
function hiddenKind(transformer: Session, c: Bundle['config']) {
  const width = transformer.input('hidden_states').shape[2];
  const features = c.latentChannels * c.patchSize ** 2;
  return typeof width === 'number' ? transformerKind(width, features, c.vae.scaleFactorPx, c.patchSize) : 'plain';
}

/** x_σ = (1 − σ)·x₀ + σ·ε, the flow-matching path from the init's latent to the noise. */
function noiseTo(x0: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const x = new Float32Array(x0.length);
  for (let i = 0; i < x.length; i++) x[i] = (1 - sigma) * x0[i] + sigma * noise[i];
  return x;
}

/**
 * The keep rectangle on the generated canvas (the output plus the crop margins): shifted by the crop,
 * and an edge on the output's border moved to the canvas border, so it stays a border (no feather).
 */
export function keepOnCanvas(keep: KeepRect, plan: SizePlan): KeepRect {
  const { left, top, width, height } = plan.crop;
  const x0 = keep.x === 0 ? 0 : keep.x + left;
  const y0 = keep.y === 0 ? 0 : keep.y + top;
  const x1 = keep.x + keep.width === width ? plan.generatedWidth : keep.x + keep.width + left;
  const y1 = keep.y + keep.height === height ? plan.generatedHeight : keep.y + keep.height + top;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0, feather: keep.feather };
}


