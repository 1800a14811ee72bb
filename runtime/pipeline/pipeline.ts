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
import { createSession, type Session, type TensorData } from './ort.ts';
import { previewPng, projectLatent } from './preview.ts';
import { PromptTokenizer } from './text.ts';
import { z } from 'zod';
import { fields, GENERATION_DEFAULTS, intIn } from '../contract/rules.ts';
import { GENERATION_METHODS, MIN_SIDE, resolveDypeExponent, type Device, type Engine, type EngineInfo, type GenerateOptions, type GenerateRequest, type GenerateResult, type GenerationMethod } from './types.ts';

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
}

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
  /** Each text encoder with its tokenizer and prompt length, by the family's encoder key. */
  private readonly encoders: Record<string, LoadedEncoder>;

  private constructor(
    private readonly bundle: Bundle,
    private readonly family: ModelFamily,
    private readonly sessions: { transformer: Session; vae: Session; vaeEncoder?: Session; text: Record<string, Session> },
    tokenizers: Record<string, PromptTokenizer>,
    private readonly log: (line: string) => void,
    private readonly steppers: DeviceSteppers | null,
  ) {
    const c = bundle.config;
    const t = sessions.transformer;
    const ropeInputs = c.rope.inputs;
    this.info = Object.freeze({
      model: c.name,
      demo: c.demo,
      description: c.description,
      nativeResolution: c.nativeResolution,
      pixelsPerToken: c.pixelsPerToken,
      maxSide: c.limits.maxSide,
      maxPixels: c.limits.maxPixels,
      provider: t.provider,
      providerSelection: t.selection,
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
    });
    const nativeLatent = c.nativeResolution / c.vae.scaleFactorPx;
    this.tiles = c.decode ?? { tile: nativeLatent, overlap: Math.max(1, Math.floor(nativeLatent / 4)) };
    const lengths = family.textLengths(c, t);
    this.encoders = Object.fromEntries(Object.entries(sessions.text).map(([key, session]) => [key, { session, tokenizer: tokenizers[key], length: lengths[key] }]));
  }

  /**
   * Loads a bundle; the first model picks the execution provider and the rest follow it.
   * `keepOnDevice` keeps the latents in GPU memory between steps where the provider can (WebGPU);
   * by default only on a hardware adapter.
   */
  static async load(dir: string, opts: { device?: Device; log?: (line: string) => void; keepOnDevice?: boolean } = {}): Promise<Pipeline> {
    const bundle = readBundle(dir);
    const family = familyOf(bundle.config.family);
    const textKeys = Object.keys(bundle.text);
    const tokenizers = Object.fromEntries(textKeys.map((key) => [key, PromptTokenizer.load(bundle.text[key].tokenizer)]));
    const transformer = await createSession(bundle.paths.transformer, opts.device ?? 'auto', opts.log, { outputsOnDevice: opts.keepOnDevice ?? 'on-hardware' });
    const device = transformer.provider as Device;
    const created = await Promise.allSettled([
      ...textKeys.map((key) => createSession(bundle.text[key].model, device)),
      createSession(bundle.paths.vaeDecoder, device),
      ...(bundle.vaeEncoder ? [createSession(bundle.vaeEncoder, device)] : []),
    ]);
    const sessions = [transformer, ...created.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))];
    let steppers: DeviceSteppers | null = null;
    try {
      const failed = created.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const textSessions = sessions.slice(1, 1 + textKeys.length);
      const text = Object.fromEntries(textKeys.map((key, i) => [key, textSessions[i]]));
      const [vae, vaeEncoder] = sessions.slice(1 + textKeys.length);
      const c = bundle.config;
      checkContract(family.contract, { transformer, vae, text }, c.rope.axesDim.reduce((a, d) => a + d / 2, 0));
      const takes = transformer.has('rope_omega') ? 'omega' : 'tables';
      if (takes !== c.rope.inputs) {
        throw new PipelineError('bundle_invalid', `dype.json says rope.inputs "${c.rope.inputs}" but ${transformer.path} takes ${takes === 'omega' ? 'rope_omega/rope_mscale' : 'rope_cos/rope_sin'}`);
      }
      const kind = hiddenKind(transformer, c);
      if (kind === null) {
        const f = c.latentChannels * c.patchSize ** 2;
        throw new PipelineError('bundle_invalid', `${transformer.path} takes hidden_states of width ${String(transformer.input('hidden_states').shape[2])}; expected ${f} (latents) or, for FLUX Fill, ${f} + ${f} (masked image) + ${fillMaskFeatures(c.vae.scaleFactorPx, c.patchSize)} (mask)`);
      }
      if (kind === 'fill' && !vaeEncoder) throw new PipelineError('bundle_invalid', `${transformer.path} is a FLUX Fill transformer, which needs the bundle's VAE encoder (dype.json vae.encoder)`);
      if (vaeEncoder && !vaeEncoder.outputNames.includes('latent_parameters')) {
        throw new PipelineError('bundle_invalid', `${vaeEncoder.path} must output latent_parameters (mean ‖ log-variance), as optimum exports it`);
      }
      if (transformer.outputsOnDevice) steppers = await createDeviceSteppers(transformer);
      return new Pipeline(bundle, family, { transformer, vae, text, ...(vaeEncoder ? { vaeEncoder } : {}) }, tokenizers, opts.log ?? (() => {}), steppers);
    } catch (error) {
      // Nothing half-loaded stays in memory: release every session that was created.
      await Promise.all([...sessions, ...Object.values(steppers ?? {})].map((session) => session.release()));
      throw error;
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.allSessions(), ...Object.values(this.steppers ?? {})].map((s) => s.release()));
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
    const { transformer, vae } = this.sessions;

    // 1. Check inputs.
    const req = this.resolveRequest(request);
    throwIfAborted();

    // 2. Encode the prompt.
    const text = await this.family.encodePrompt(req.prompt, this.encoders, this.log);
    const encodeTextMs = performance.now() - started;

    // 3. Latents and positions; the init image encoded (image-to-image).
    const plan = planSize(req.width, req.height, c.pixelsPerToken);
    const latentShape = { channels: c.latentChannels, height: plan.rows * c.patchSize, width: plan.cols * c.patchSize };
    const noise = packLatents(sizeIndependentNoise(req.seed, latentShape), latentShape, c.patchSize);
    const encodeInitStart = performance.now();
    const init = req.init ? await this.encodeInit(req.init.bytes, plan, latentShape, req.keep, throwIfAborted) : null;
    // FLUX Fill: the kept image and the mask go in as a condition, instead of being blended in per step.
    const condition = this.info.fill ? await this.fillConditionFor(init, plan, latentShape, throwIfAborted) : null;
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
    const transformerOrtBefore = transformer.runMs;
    const keepMask = init?.keepMask;
    const afterStep = init && keepMask
      ? (x: Float32Array, sigmaNext: number) => {
          if (sigmaNext >= req.strength) blendTowardInit(x, init.latent, noise, keepMask, sigmaNext);
        }
      : undefined;
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
    const latents = denoiser.latents();
    const denoiseMs = performance.now() - denoiseStart;
    const denoiseOrtMs = transformer.runMs - transformerOrtBefore;
    throwIfAborted();

    // 6. Undo the VAE's latent normalisation and unpack.
    this.family.toVaeLatents(latents, c);
    const latent = unpackLatents(latents, latentShape, c.patchSize);

    // 7. Decode in overlapping tiles.
    const decodeStart = performance.now();
    const rgb = await decodeTiled(latent, latentShape, c.vae.scaleFactorPx, this.tiles, async (tile, h, w) => {
      throwIfAborted();
      const out = await vae.run({ [vae.inputs[0].name]: { type: 'float32', data: tile, dims: [1, c.latentChannels, h, w] } });
      sampleRss();
      return out[vae.outputNames[0]].data as Float32Array;
    }, (tile, tiles) => opts.onEvent?.({ kind: 'decode', tile, tiles }));
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
  private async encodeInit(bytes: Uint8Array, plan: SizePlan, shape: LatentShape, keep: KeepRect | undefined, checkAbort: () => void) {
    const c = this.bundle.config;
    const canvas = { width: plan.generatedWidth, height: plan.generatedHeight };
    const place: Crop = keep ? { left: plan.crop.left + keep.x, top: plan.crop.top + keep.y, width: keep.width, height: keep.height } : plan.crop;
    let rgb: Uint8Array;
    try {
      rgb = await initCanvas(bytes, canvas, place);
    } catch (error) {
      throw new PipelineError('bad_request', `init is not a readable image: ${(error as Error).message}`, { cause: error });
    }
    const latent = await this.encodeCanvas(rgb, canvas.width, canvas.height, shape, checkAbort);
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
  private async fillConditionFor(init: { rgb: Uint8Array; keep: KeepRect | null } | null, plan: SizePlan, shape: LatentShape, checkAbort: () => void): Promise<Float32Array> {
    const c = this.bundle.config;
    const { generatedWidth: W, generatedHeight: H } = plan;
    const keep = init?.keep ?? null;
    const masked = new Uint8Array(W * H * 3).fill(128);
    if (init && keep) {
      for (let y = keep.y; y < keep.y + keep.height; y++) masked.set(init.rgb.subarray((y * W + keep.x) * 3, (y * W + keep.x + keep.width) * 3), (y * W + keep.x) * 3);
    }
    const latent = await this.encodeCanvas(masked, W, H, shape, checkAbort);
    const tokens = (shape.height / c.patchSize) * (shape.width / c.patchSize);
    return interleaveTokens(latent, packedFillMask(keep, shape, c.vae.scaleFactorPx, c.patchSize), tokens);
  }

  /** Interleaved RGB of the generated canvas → the VAE's latent mean, packed and in model space, encoded in tiles (a cancel stops between tiles). */
  private async encodeCanvas(rgb: Uint8Array, width: number, height: number, shape: LatentShape, checkAbort: () => void): Promise<Float32Array> {
    const c = this.bundle.config;
    const encoder = this.sessions.vaeEncoder!;
    const mean = await encodeTiled(rgb, width, height, c.vae.scaleFactorPx, c.latentChannels, this.tiles, async (image, h, w) => {
      checkAbort();
      const out = await encoder.run({ sample: { type: 'float32', data: image, dims: [1, 3, h, w] } });
      return out.latent_parameters.data as Float32Array;
    });
    const packed = packLatents(mean, shape, c.patchSize);
    this.family.fromVaeLatents(packed, c);
    return packed;
  }

  private allSessions(): Session[] {
    const { text, ...models } = this.sessions;
    return [...Object.values(models), ...Object.values(text)];
  }

  private ortMs(): number {
    return this.allSessions().reduce((sum, s) => sum + s.runMs, 0);
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


