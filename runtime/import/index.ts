/**
 * `dype import`: a standard FLUX.1 ONNX export (optimum layout) → a DyPE-ready bundle.
 *
 * 1. Locate the export's parts and read its configs.
 * 2. Cheap checks first: every model's inputs/outputs, as the bundle will have them, against the
 *    pipeline's own contract check, the in-graph RoPE pattern, dev vs schnell, dype.json, and the
 *    tokenizers (loaded and checked).
 * 3. Transformer: link its weights (hard link, else copy; they are never read), wrap bfloat16
 *    I/O, feed the RoPE from rope_omega/rope_mscale, optionally fuse attention, write the graph.
 * 4. Self-check: original and imported transformer agree on a small input with native ω, and the
 *    original with distinct per-axis ω and mscale baked in agrees with the imported one fed them.
 * 5. Link the text encoders, VAE decoder and scheduler, write dype.json, read the bundle back;
 *    it is assembled next to the target and renamed into place only when complete. An existing
 *    target is replaced (with --force) only when it is a bundle itself.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, normalize, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../files/atomic.ts';
import { replaceFolder } from '../files/folder.ts';
import type { BundleConfig } from '../bundle/config.ts';
import { checkContract, type GraphSignature } from '../bundle/contract.ts';
import { buildBundleConfig, detectVariant, FLUX1_CONTRACT, FLUX_DEFAULTS, FLUX_SCHEDULERS, type FluxVariant } from '../bundle/flux1.ts';
import { checkBundleTarget, VAE_ENCODER_FILE } from '../bundle/read.ts';
import { checkTokenizer, importTokenizer, TokenizerError, TOKENIZER_SOURCES, type TokenizerCheck } from '../bundle/tokenizers.ts';
import { finishBundle } from '../bundle/write.ts';
import { linkFolder, linkOrCopy, newTransferStats, type TransferStats } from '../files/place.ts';
import { FEED_TYPES } from '../pipeline/ort.ts';
import type { Device } from '../pipeline/providers.ts';
import { analyzeModel, describePattern, formatAnalysis, type RopeAnalysis, type TransformerAnalysis } from './analyze.ts';
import { findAttention, fuseAttention, probeValues } from './attention.ts';
import { wrapBfloat16Boundary } from './boundary.ts';
import { ImportError } from './errors.ts';
import { locateExport, readGraphIo, readJsonObject, type ExportLayout } from './files.ts';
import { GraphIndex, externalLocations, nodeLabel, opsetVersion, readModel, renameExternalLocations, serializeModel, type OnnxModel } from '../onnx/graph.ts';
import { DataType, dtypeName, elemType, valueShape } from '../onnx/proto.ts';
import { ROPE_INPUTS, ropeStatus, rewriteRope } from './rope.ts';
import { probeTransformer, probeVaeScale, verifyTransformer, writeDypeReference, type Comparison, type RopeSettings, type VerifyResult } from './verify.ts';

export { analyzeTransformer, formatAnalysis, type AnalysisContext, type TransformerAnalysis } from './analyze.ts';
export { ImportError, type ImportErrorCode } from './errors.ts';

export interface ImportOptions {
  /** Bundle folder to create. */
  output: string;
  /** Bundle name in dype.json (default: the export folder's name). */
  name?: string;
  /** Run the self-check (default true). */
  verify?: boolean;
  /** Rewrite unfused attention to com.microsoft.MultiHeadAttention (default false). */
  fuseAttention?: boolean;
  /** Replace an existing output folder that holds a bundle (never any other non-empty folder). */
  force?: boolean;
  /** Copy files instead of hard-linking them. */
  copy?: boolean;
  /** Execution provider for the self-check and the attention probe (default 'cpu'). */
  device?: Device;
  log?: (line: string) => void;
}

export interface ImportReport {
  exportDir: string;
  bundleDir: string;
  variant: FluxVariant;
  evidence: string[];
  warnings: string[];
  /** The original transformer, as `dype info` would describe it. */
  analysis: TransformerAnalysis;
  rope: RopeAnalysis;
  /** bfloat16 inputs/outputs wrapped with Casts, per model folder. */
  bfloat16Wrapped: Record<string, string[]>;
  /** Attention fusion (when asked for): how many were rewritten and why others were not. */
  attention: { fused: number; skipped: string[] } | null;
  verify: VerifyResult | null;
  tokenizers: TokenizerCheck[];
  files: TransferStats;
  config: BundleConfig;
  defaultsUsed: string[];
}

const OTHER_MODELS = [
  ['textEncoder', 'text_encoder'],
  ['textEncoder2', 'text_encoder_2'],
  ['vaeDecoder', 'vae_decoder'],
] as const;

type GraphIo = ReturnType<typeof readGraphIo>;

const signature = (path: string, io: GraphIo): GraphSignature => ({
  path,
  inputs: io.inputs.map((v) => ({ name: v.name, shape: valueShape(v) ?? undefined })),
  outputNames: io.outputs.map((v) => v.name),
});

/**
 * The transformer's inputs as the bundle will have them: the export's, plus rope_omega/rope_mscale
 * when it takes neither those nor rope_cos/rope_sin (the import adds them, sized by the graph's
 * RoPE, or fails).
 */
function importedTransformerInputs(inputs: readonly { name: string; shape: (number | string)[] | null }[]): GraphSignature['inputs'] {
  const has = (name: string) => inputs.some((i) => i.name === name);
  const list = inputs.map((i) => ({ name: i.name, shape: i.shape ?? undefined }));
  if ((has('rope_omega') && has('rope_mscale')) || (has('rope_cos') && has('rope_sin'))) return list;
  return [...list, ...ROPE_INPUTS.map((name) => ({ name }))];
}

/**
 * The pipeline's contract (runtime/bundle/contract.ts checkContract), checked before any work on
 * every model as it will be in the bundle. Returns the other models' I/O.
 */
function checkBundleContract(layout: ExportLayout, transformer: GraphSignature, rope: RopeSettings): Record<(typeof OTHER_MODELS)[number][0], GraphIo> {
  const io = { textEncoder: readGraphIo(layout.textEncoder), textEncoder2: readGraphIo(layout.textEncoder2), vaeDecoder: readGraphIo(layout.vaeDecoder) };
  try {
    const text = { clip: signature(layout.textEncoder, io.textEncoder), t5: signature(layout.textEncoder2, io.textEncoder2) };
    checkContract(FLUX1_CONTRACT, { transformer, vae: signature(layout.vaeDecoder, io.vaeDecoder), text }, rope.axesDim.reduce((n, d) => n + d / 2, 0));
  } catch (error) {
    throw new ImportError('export_invalid', `${layout.dir} cannot become a DyPE bundle: ${(error as Error).message}`, { cause: error });
  }
  return io;
}

/**
 * optimum's vae_encoder/ when the pipeline can use it (`sample` → `latent_parameters`); otherwise null,
 * with a warning that image-to-image will not be available.
 */
function importableEncoder(file: string | null, warnings: string[]): { file: string; io: GraphIo } | null {
  if (!file) {
    warnings.push('the export has no vae_encoder/: the bundle can generate from text only (image-to-image needs the VAE encoder)');
    return null;
  }
  const io = readGraphIo(file);
  const inputs = io.inputs.map((v) => v.name);
  if (inputs.length !== 1 || inputs[0] !== 'sample' || !io.outputs.some((v) => v.name === 'latent_parameters')) {
    warnings.push(`${file} takes ${inputs.join(', ')} and gives ${io.outputs.map((v) => v.name).join(', ')}, not sample → latent_parameters: left out (no image-to-image)`);
    return null;
  }
  return { file, io };
}

/** Element types of FP8/FP4 quantized weights: TensorRT runs those graphs, onnxruntime does not. */
const TENSORRT_ONLY_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2, DataType.FLOAT8E5M2FNUZ, DataType.FLOAT4E2M1, DataType.INT4, DataType.UINT4]);

/** Refuses BFL's fp8/fp4 variants (Q/DQ over 8- and 4-bit weights, TensorRT plugin ops), naming the variant that works. */
function checkNotTensorRtOnly(model: OnnxModel): void {
  const weight = model.graph.initializer.find((t) => TENSORRT_ONLY_TYPES.has(t.dataType));
  const plugin = model.graph.node.find((n) => n.domain.startsWith('trt'));
  if (!weight && !plugin) return;
  const why = weight ? `initializer ${weight.name} is ${dtypeName(weight.dataType)}` : `node ${nodeLabel(plugin!)} is a TensorRT plugin (domain ${plugin!.domain})`;
  throw new ImportError(
    'export_invalid',
    `${model.path} is a TensorRT-only variant (${why}): FP8/FP4 quantized graphs run on TensorRT, not onnxruntime. ` +
      "Use the bf16 variant (transformer.opt/bf16 in BFL's repositories) or an optimum export instead.",
  );
}

/** Every transformer input must be of a type the pipeline feeds (bfloat16 is wrapped with Casts on import). */
function checkInputTypes(path: string, inputs: readonly { name: string; dtype: string }[]): void {
  const bad = inputs.find((i) => i.dtype !== 'bfloat16' && !(FEED_TYPES as readonly string[]).includes(i.dtype));
  if (bad) {
    throw new ImportError(
      'export_invalid',
      `${path}: input ${bad.name} has element type ${bad.dtype}; the pipeline feeds ${FEED_TYPES.join(', ')} (and bfloat16 through Casts). ` +
        `Re-export the transformer with ${bad.name} as one of those types.`,
    );
  }
}

/**
 * What a diffusers VAE config would say of BFL's vae.opt, which ships none: its graph is AE.decode,
 * which undoes the latent scaling itself (so the pipeline scales by 1, shifts by 0); latent channels
 * come from its input, pixels per latent pixel from decoding a 2×2 latent once (FLUX's 8 where its
 * input is bfloat16, which onnxruntime-node cannot feed).
 */
async function bflVaeConfig(path: string, device: Device, defaultsUsed: string[]): Promise<Record<string, unknown>> {
  const input = readGraphIo(path).inputs[0];
  const channels = valueShape(input)?.[1];
  const latentChannels = typeof channels === 'number' ? channels : FLUX_DEFAULTS.latentChannels;
  let scale: number = FLUX_DEFAULTS.vaeScaleFactorPx;
  if (elemType(input) === DataType.BFLOAT16) defaultsUsed.push(`vae scale factor: FLUX's ${scale} px (the bfloat16 vae.opt is not probed)`);
  else {
    try {
      scale = await probeVaeScale(path, latentChannels, device);
    } catch (error) {
      throw new ImportError('export_invalid', `${path}: decoding a 2×2 latent, to learn the VAE's pixels per latent pixel, failed: ${(error as Error).message}`, { cause: error });
    }
    if (!Number.isInteger(Math.log2(scale))) throw new ImportError('export_invalid', `${path} decodes a 2×2 latent to ${2 * scale} px: not a power-of-two upsampling VAE`);
  }
  return { latent_channels: latentChannels, block_out_channels: new Array(Math.log2(scale) + 1).fill(0), scaling_factor: 1, shift_factor: 0 };
}

export async function importExport(exportDir: string, options: ImportOptions): Promise<ImportReport> {
  const source = resolve(exportDir);
  const target = resolve(options.output);
  const layout = locateExport(source);
  const rel = relative(source, target);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new ImportError('bundle_exists', `the bundle folder ${target} must lie outside the export ${source}`);
  }
  const force = options.force ?? false;
  const report = await replaceFolder(target, () => checkBundleTarget(target, { force, source, refuse: (message) => new ImportError('bundle_exists', message) }), (staging) => assemble(layout, staging, options));
  return { ...report, bundleDir: target };
}

/** Links the transformer's external data files into `dir`, renaming those outside its folder. */
async function linkExternalData(model: OnnxModel, dir: string, stats: TransferStats, copy: boolean): Promise<void> {
  const renames = new Map<string, string>();
  const used = new Set<string>();
  for (const location of externalLocations(model.graph)) {
    const src = resolve(model.dir, location);
    if (!existsSync(src)) throw new ImportError('export_invalid', `${model.path} refers to external data ${location}, which is missing`);
    const inside = !isAbsolute(location) && !normalize(location).startsWith('..');
    let name = inside ? normalize(location) : basename(location);
    for (let k = 1; !inside && (used.has(name) || name === 'model.onnx'); k++) name = `${k}_${basename(location)}`;
    if (!inside) renames.set(location, name);
    used.add(name);
    await linkOrCopy(src, join(dir, name), stats, copy);
  }
  if (renames.size) renameExternalLocations(model.graph, renames);
}

function ropeFromConfig(config: Record<string, unknown> | null): RopeSettings {
  const axes = config?.axes_dims_rope;
  const axesDim = Array.isArray(axes) && axes.every((d) => Number.isInteger(d)) ? (axes as number[]) : [...FLUX_DEFAULTS.axesDim];
  return { axesDim, theta: typeof config?.theta === 'number' ? config.theta : FLUX_DEFAULTS.theta };
}

async function assemble(layout: ExportLayout, staging: string, options: ImportOptions): Promise<Omit<ImportReport, 'bundleDir'>> {
  const log = options.log ?? (() => {});
  const copy = options.copy ?? false;
  const files = newTransferStats();
  const warnings: string[] = [];
  const defaultsUsed: string[] = [];
  const bfloat16Wrapped: Record<string, string[]> = {};

  // 1. Configs.
  const transformerDir = dirname(layout.transformer);
  const transformerConfig = readJsonObject(join(transformerDir, 'config.json'));
  const vaeConfig = layout.kind === 'bfl' ? await bflVaeConfig(layout.vaeDecoder, options.device ?? 'cpu', defaultsUsed) : readJsonObject(join(dirname(layout.vaeDecoder), 'config.json'));
  const schedulerConfig = readJsonObject(layout.scheduler);
  const clipConfig = readJsonObject(join(layout.tokenizer, 'tokenizer_config.json'));
  const modelIndex = readJsonObject(layout.modelIndex);

  // 2. Cheap checks first: contract, RoPE pattern, variant, dype.json, tokenizers.
  log(`reading ${layout.transformer} (graph only; weights stay in place)`);
  const model = readModel(layout.transformer);
  const heads = typeof transformerConfig?.num_attention_heads === 'number' ? transformerConfig.num_attention_heads : null;
  const analysis = analyzeModel(model, { heads });
  checkInputTypes(layout.transformer, analysis.inputs);
  checkNotTensorRtOnly(model);
  const configured = ropeFromConfig(transformerConfig);
  const bundleInputs = importedTransformerInputs(analysis.inputs);
  const otherIo = checkBundleContract(layout, { path: layout.transformer, inputs: bundleInputs, outputNames: analysis.outputs.map((o) => o.name) }, configured);
  const status = ropeStatus(new GraphIndex(model.graph), model.dir); // throws, naming candidates, when not found/ambiguous
  const rope: RopeSettings = status.kind === 'in-graph' ? { axesDim: status.pattern.axesDim, theta: status.pattern.theta } : configured;
  // What the imported graph takes, as the pipeline tells them apart.
  const ropeInputs = bundleInputs.some((i) => i.name === 'rope_omega') ? 'omega' : 'tables';
  const ropeFeed = ropeInputs === 'omega' ? 'rope_omega/rope_mscale' : 'rope_cos/rope_sin tables';
  if (status.kind === 'in-graph' && transformerConfig?.axes_dims_rope && configured.axesDim.join('/') !== rope.axesDim.join('/')) {
    warnings.push(`transformer/config.json axes_dims_rope ${configured.axesDim.join('/')} differs from the graph's ${rope.axesDim.join('/')}; the graph's is used`);
  }

  const imageTokens = analysis.inputs.find((i) => i.name === 'hidden_states')?.shape?.[1];
  if (typeof imageTokens === 'number') {
    warnings.push(`the transformer takes a fixed ${imageTokens} image tokens (a static-shape export): it runs at that size only; re-export with dynamic token axes for DyPE's larger sizes`);
  }
  const textLength = analysis.inputs.find((i) => i.name === 'encoder_hidden_states')?.shape?.[1];
  if (typeof textLength === 'number') {
    warnings.push(`the transformer takes a fixed ${textLength} text tokens (a static text length, as BFL's exporter writes): T5 prompts are padded to ${textLength} tokens, and longer ones truncated`);
  }
  const vaeEncoder = importableEncoder(layout.vaeEncoder, warnings);
  const names = [basename(layout.dir), modelIndex?._name_or_path, transformerConfig?._name_or_path].filter((n): n is string => typeof n === 'string');
  const detection = detectVariant(analysis.guidance, transformerConfig, schedulerConfig, names);
  warnings.push(...detection.warnings);
  const built = buildBundleConfig({
    name: options.name ?? basename(layout.dir),
    description: `FLUX.1-${detection.variant} imported from ${layout.dir} by dype import (RoPE fed by ${ropeFeed}).`,
    variant: detection.variant,
    transformer: transformerConfig,
    vae: vaeConfig,
    clipTokenizerConfig: clipConfig,
    rope: { ...rope, inputs: ropeInputs },
    ...(typeof textLength === 'number' ? { textLength } : {}),
    vaeEncoder: vaeEncoder !== null,
  });
  defaultsUsed.push(...built.defaultsUsed);

  const tokenizers = await asImportError(async () => {
    const clip = await importTokenizer(layout.tokenizer, join(staging, 'tokenizer'), 'clip', files, copy);
    const t5 = await importTokenizer(layout.tokenizer2, join(staging, 'tokenizer_2'), 't5', files, copy);
    return [checkTokenizer(join(staging, 'tokenizer'), clip, built.config.text.clipMaxLength), checkTokenizer(join(staging, 'tokenizer_2'), t5, built.config.text.t5MaxLength)];
  });

  // 3. Transformer: link the weights, wrap bfloat16 I/O, feed RoPE from inputs, fuse attention.
  const outDir = join(staging, 'transformer');
  await linkExternalData(model, outDir, files, copy);
  model.dir = outDir; // external locations now resolve beside the bundle's copy
  if (existsSync(join(transformerDir, 'config.json'))) await linkOrCopy(join(transformerDir, 'config.json'), join(outDir, 'config.json'), files, copy);
  const wrapped = wrapBfloat16Boundary(model);
  if (wrapped.length) {
    bfloat16Wrapped.transformer = wrapped;
    log(`wrapped bfloat16 inputs/outputs with Casts: ${wrapped.join(', ')}`);
  }
  // The unmodified graph (bar the wrapping and relinked data), beside the bundle's weights: the self-check's
  // native reference; and the same with the DyPE check's ω and mscale baked in, where the RoPE is rewritten.
  const verifying = options.verify ?? true;
  const referencePath = join(outDir, 'reference.onnx.tmp');
  const dypeReferencePath = status.kind === 'in-graph' ? join(outDir, 'reference-dype.onnx.tmp') : null;
  if (verifying) await writeFileAtomic(referencePath, serializeModel(model));
  if (verifying && dypeReferencePath) await writeDypeReference(model, dypeReferencePath, rope);

  let ropeReport: RopeAnalysis;
  if (status.kind === 'in-graph') {
    rewriteRope(model, status.pattern);
    ropeReport = describePattern(status.pattern);
    log(`RoPE: ${status.pattern.axes.length} axes (${rope.axesDim.join('/')}, θ ${rope.theta}) now fed by rope_omega/rope_mscale`);
  } else {
    ropeReport = { status: status.kind };
    log(status.kind === 'dype-inputs' ? 'RoPE: the transformer already takes rope_omega/rope_mscale' : 'RoPE: the transformer takes rope_cos/rope_sin tables');
  }

  let attention: ImportReport['attention'] = null;
  if (options.fuseAttention) {
    const found = findAttention(new GraphIndex(model.graph), model.dir, opsetVersion(model.proto));
    const fusable = found.unfused.filter((m) => !m.blocker);
    const probed = fusable.length ? await probeTransformer(model, join(outDir, 'probe.onnx.tmp'), probeValues(fusable), rope, options.device) : new Map();
    attention = fuseAttention(model, found.unfused, probed);
    log(`attention: ${attention.fused} rewritten to com.microsoft.MultiHeadAttention${attention.skipped.length ? `, ${attention.skipped.length} left as they are` : ''}`);
  }
  const outPath = join(outDir, 'model.onnx');
  await writeFileAtomic(outPath, serializeModel(model));

  // 4. Self-check.
  let verify: VerifyResult | null = null;
  if (verifying) {
    log(`self-check: original vs imported transformer, 4×4 image tokens, native RoPE${dypeReferencePath ? ' and distinct per-axis ω/mscale' : ''}`);
    const models = { reference: referencePath, candidate: outPath, dypeReference: dypeReferencePath };
    verify = await verifyTransformer(models, rope, analysis.dtype, options.device).catch((error: unknown) => {
      if (error instanceof ImportError) throw error;
      throw new ImportError(
        'verify_failed',
        `the self-check could not run the transformer on ${options.device ?? 'cpu'}: ${(error as Error).message}. ` +
          'Run it on another execution provider with --device, or skip it with --no-verify.',
        { cause: error },
      );
    });
    if (!verify.passed) {
      const failed = [
        !verify.native.passed && `with native RoPE, against the original: ${describeComparison(verify.native)}`,
        verify.dype && !verify.dype.passed && `with distinct per-axis ω and mscale, against the original built with them: ${describeComparison(verify.dype)}`,
      ].filter(Boolean);
      throw new ImportError('verify_failed', `the imported transformer fails the self-check ${failed.join('; ')}; no bundle was written`);
    }
  }
  await rm(referencePath, { force: true });
  if (dypeReferencePath) await rm(dypeReferencePath, { force: true });

  // 5. The other models (and the VAE encoder), scheduler, dype.json; then read the bundle back as the pipeline will.
  const others: [file: string, folder: string, io: GraphIo][] = OTHER_MODELS.map(([key, folder]) => [layout[key], folder, otherIo[key]]);
  if (vaeEncoder) others.push([vaeEncoder.file, dirname(VAE_ENCODER_FILE), vaeEncoder.io]);
  for (const [file, folder, io] of others) {
    const dst = join(staging, folder);
    await linkFolder(dirname(file), dst, files, copy, (rel) => extname(rel) === '.onnx');
    if ([...io.inputs, ...io.outputs].some((v) => elemType(v) === DataType.BFLOAT16)) {
      const other = readModel(file);
      bfloat16Wrapped[folder] = wrapBfloat16Boundary(other);
      await writeFileAtomic(join(dst, 'model.onnx'), serializeModel(other));
    } else {
      await linkOrCopy(file, join(dst, 'model.onnx'), files, copy);
    }
  }
  const flavour = detection.variant === 'schnell' ? 'schnell' : 'dev';
  if (layout.scheduler) await linkFolder(dirname(layout.scheduler), join(staging, 'scheduler'), files, copy);
  else defaultsUsed.push(`scheduler: FLUX.1-${flavour}'s FlowMatchEulerDiscreteScheduler config`);
  if (layout.modelIndex) await linkOrCopy(layout.modelIndex, join(staging, 'model_index.json'), files, copy);
  await finishBundle(staging, { config: built.config, ...(layout.scheduler ? {} : { scheduler: FLUX_SCHEDULERS[flavour] }) }, (message, cause) => new ImportError('export_invalid', message, { cause }));

  return {
    exportDir: layout.dir,
    variant: detection.variant,
    evidence: detection.evidence,
    warnings,
    analysis,
    rope: ropeReport,
    bfloat16Wrapped,
    attention,
    verify,
    tokenizers,
    files,
    config: built.config,
    defaultsUsed,
  };
}

/** The shared tokenizer code's errors, as `dype import` reports them (same code and message). */
async function asImportError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof TokenizerError) throw new ImportError(error.code, error.message, { cause: error.cause });
    throw error;
  }
}

function describeComparison(c: Comparison): string {
  return `max |Δ| ${c.maxAbsDiff.toExponential(3)} > tolerance ${c.tolerance.toExponential(3)} (outputs up to ${c.maxAbsRef.toExponential(3)})`;
}

/** Human-readable summary of an import. */
export function formatImportReport(r: ImportReport): string {
  const lines = [`imported ${r.exportDir} → ${r.bundleDir}`, `variant      FLUX.1-${r.variant} (${r.evidence.join('; ')})`];
  lines.push(...formatAnalysis(r.analysis).filter((l) => !l.startsWith('rope') && !l.startsWith('attention') && !l.startsWith('   ')));
  if (r.rope.status === 'in-graph') {
    lines.push(`rope         ${r.rope.axes!.length} axes ${r.rope.axesDim!.join('/')}, θ ${r.rope.theta}: frequency constants replaced by rope_omega, Cos/Sin scaled by rope_mscale`);
    for (const a of r.rope.axes!) lines.push(`               axis ${a.axis}: ${a.frequencies} × ${a.constantDtype} (${a.constant}) via ${a.form} ${a.product}, interleave ${a.interleave}`);
    if (r.rope.untouched?.length) lines.push(`               left alone: ${r.rope.untouched.join(', ')}`);
  } else lines.push(`rope         ${r.rope.status === 'dype-inputs' ? 'already DyPE-ready' : 'rope_cos/rope_sin tables'}`);
  for (const [folder, names] of Object.entries(r.bfloat16Wrapped)) lines.push(`bfloat16     ${folder}: ${names.join(', ')} wrapped with Casts to/from float32`);
  const at = r.analysis.attention;
  lines.push(`attention    ${at.fusedCount} fused, ${at.unfusedCount} unfused in the export`);
  if (r.attention) {
    lines.push(`               --fuse-attention: ${r.attention.fused} rewritten to com.microsoft.MultiHeadAttention`);
    for (const s of r.attention.skipped) lines.push(`               not rewritten: ${s}`);
  } else for (const advice of at.advice) lines.push(`               ${advice}`);
  if (r.verify) {
    const v = r.verify;
    const line = (c: Comparison) => `max |Δ| ${c.maxAbsDiff.toExponential(2)} (tolerance ${c.tolerance.toExponential(2)}, outputs up to ${c.maxAbsRef.toFixed(3)})`;
    lines.push(`self-check   passed on ${v.grid.rows}×${v.grid.cols} image + ${v.grid.textTokens} text tokens`);
    lines.push(`               native RoPE: ${line(v.native)}`);
    if (v.dype) lines.push(`               distinct per-axis ω, mscale ≠ 1: ${line(v.dype)}`);
  } else lines.push('self-check   skipped (--no-verify)');
  for (const t of r.tokenizers) lines.push(`tokenizer    ${TOKENIZER_SOURCES[t.kind].label} from ${t.source}: ${t.maxLength} ids, pad ${t.padId}, eos ${t.eosId}`);
  lines.push(`text         CLIP ${r.config.text.clipMaxLength}, T5 ${r.config.text.t5MaxLength} tokens; defaults ${r.config.defaults.steps} steps, guidance ${r.config.defaults.guidance ?? 'none'}`);
  lines.push(`files        ${r.files.linked} hard-linked, ${r.files.copied} copied${r.files.copiedBytes ? ` (${(r.files.copiedBytes / 2 ** 30).toFixed(2)} GiB)` : ''}`);
  for (const d of r.defaultsUsed) lines.push(`default      ${d}`);
  for (const w of r.warnings) lines.push(`warning      ${w}`);
  return lines.join('\n');
}
