/**
 * `dype import`: a standard FLUX.1 ONNX export (optimum layout) → a DyPE-ready bundle.
 *
 * 1. Locate the export's parts and read its configs.
 * 2. Cheap checks first: every model's inputs/outputs against the pipeline's contract, the
 *    in-graph RoPE pattern, dev vs schnell, dype.json, and the tokenizers (loaded and checked).
 * 3. Transformer: link its weights (hard link, else copy; they are never read), wrap bfloat16
 *    I/O, feed the RoPE from rope_omega/rope_mscale, optionally fuse attention, write the graph.
 * 4. Self-check: original and imported transformer agree on a small input with native ω.
 * 5. Link the text encoders, VAE decoder and scheduler, write dype.json, read the bundle back;
 *    it is assembled next to the target and renamed into place only when complete.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, normalize, relative, resolve } from 'node:path';
import type { BundleConfig } from '../pipeline/bundle-config.ts';
import type { Device } from '../pipeline/types.ts';
import { readBundle } from '../pipeline/bundle.ts';
import { analyzeModel, describePattern, formatAnalysis, type RopeAnalysis, type TransformerAnalysis } from './analyze.ts';
import { findAttention, fuseAttention, probeValues } from './attention.ts';
import { wrapBfloat16Boundary } from './boundary.ts';
import { buildBundleConfig, detectVariant, FLUX_DEFAULTS, FLUX_SCHEDULERS, type FluxVariant } from './config.ts';
import { ImportError } from './errors.ts';
import { linkFolder, linkOrCopy, locateExport, newTransferStats, readGraphIo, readJsonObject, type ExportLayout, type TransferStats } from './files.ts';
import { DataType, GraphIndex, elemType, externalLocations, opsetVersion, readModel, renameExternalLocations, serializeModel, writeFileAtomic, type OnnxModel } from './graph.ts';
import { ropeStatus, rewriteRope } from './rope.ts';
import { checkTokenizer, importTokenizer, type TokenizerCheck } from './tokenizers.ts';
import { probeTransformer, verifyTransformer, type RopeSettings, type VerifyResult } from './verify.ts';

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
  /** Replace an existing, non-empty output folder. */
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

/** Transformer inputs the pipeline feeds (runtime/pipeline/pipeline.ts), required and optional. */
const TRANSFORMER_INPUTS = ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep', 'img_ids', 'txt_ids'];
const TRANSFORMER_OPTIONAL = ['guidance', 'rope_omega', 'rope_mscale', 'rope_cos', 'rope_sin'];

type GraphIo = ReturnType<typeof readGraphIo>;

/** The pipeline's contract, checked before any work: what each model must take and give. Returns their I/O. */
function checkContract(layout: ExportLayout, transformerInputs: readonly string[]): Record<(typeof OTHER_MODELS)[number][0], GraphIo> {
  const missing = TRANSFORMER_INPUTS.filter((n) => !transformerInputs.includes(n));
  if (missing.length) throw new ImportError('export_invalid', `${layout.transformer} is not a FLUX transformer export: missing input(s) ${missing.join(', ')}`);
  const unknown = transformerInputs.filter((n) => !TRANSFORMER_INPUTS.includes(n) && !TRANSFORMER_OPTIONAL.includes(n));
  if (unknown.length) throw new ImportError('export_invalid', `${layout.transformer} has inputs the DyPE pipeline cannot feed: ${unknown.join(', ')}`);
  const names = (list: { name: string }[]) => list.map((v) => v.name);
  const all = { textEncoder: readGraphIo(layout.textEncoder), textEncoder2: readGraphIo(layout.textEncoder2), vaeDecoder: readGraphIo(layout.vaeDecoder) };
  for (const key of ['textEncoder', 'textEncoder2'] as const) {
    const io = all[key];
    const inputs = names(io.inputs);
    if (inputs.join() !== 'input_ids') throw new ImportError('export_invalid', `${layout[key]} must take exactly input_ids (it takes ${inputs.join(', ') || 'nothing'})`);
    if (key === 'textEncoder' && !names(io.outputs).includes('pooler_output')) {
      throw new ImportError('export_invalid', `${layout[key]} must output pooler_output (CLIP's pooled embedding); it outputs ${names(io.outputs).join(', ')}`);
    }
  }
  const vae = all.vaeDecoder;
  if (vae.inputs.length !== 1) throw new ImportError('export_invalid', `${layout.vaeDecoder} must take one input (latent_sample); it takes ${names(vae.inputs).join(', ')}`);
  return all;
}

export async function importExport(exportDir: string, options: ImportOptions): Promise<ImportReport> {
  const source = resolve(exportDir);
  const target = resolve(options.output);
  const layout = locateExport(source);
  const rel = relative(source, target);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new ImportError('bundle_exists', `the bundle folder ${target} must lie outside the export ${source}`);
  }
  if (existsSync(target) && readdirSync(target).length > 0 && !options.force) {
    throw new ImportError('bundle_exists', `${target} exists and is not empty; pass --force to replace it`);
  }
  const staging = `${target}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const report = await assemble(layout, staging, options);
    if (existsSync(target)) {
      const old = `${target}.old-${process.pid}`;
      await rename(target, old);
      await rename(staging, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(staging, target);
    }
    return { ...report, bundleDir: target };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
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
  const vaeConfig = readJsonObject(join(dirname(layout.vaeDecoder), 'config.json'));
  const schedulerConfig = readJsonObject(layout.scheduler);
  const clipConfig = readJsonObject(join(layout.tokenizer, 'tokenizer_config.json'));
  const modelIndex = readJsonObject(layout.modelIndex);

  // 2. Cheap checks first: contract, RoPE pattern, variant, dype.json, tokenizers.
  log(`reading ${layout.transformer} (graph only; weights stay in place)`);
  const model = readModel(layout.transformer);
  const heads = typeof transformerConfig?.num_attention_heads === 'number' ? transformerConfig.num_attention_heads : null;
  const analysis = analyzeModel(model, { heads });
  const otherIo = checkContract(layout, analysis.inputs.map((i) => i.name));
  const status = ropeStatus(new GraphIndex(model.graph), model.dir); // throws, naming candidates, when not found/ambiguous
  const rope: RopeSettings = status.kind === 'in-graph' ? { axesDim: status.pattern.axesDim, theta: status.pattern.theta } : ropeFromConfig(transformerConfig);
  const configured = ropeFromConfig(transformerConfig);
  if (status.kind === 'in-graph' && transformerConfig?.axes_dims_rope && configured.axesDim.join('/') !== rope.axesDim.join('/')) {
    warnings.push(`transformer/config.json axes_dims_rope ${configured.axesDim.join('/')} differs from the graph's ${rope.axesDim.join('/')}; the graph's is used`);
  }

  const imageTokens = analysis.inputs.find((i) => i.name === 'hidden_states')?.shape?.[1];
  if (typeof imageTokens === 'number') {
    warnings.push(`the transformer takes a fixed ${imageTokens} image tokens (a static-shape export): it runs at that size only; re-export with dynamic token axes for DyPE's larger sizes`);
  }
  const names = [basename(layout.dir), modelIndex?._name_or_path, transformerConfig?._name_or_path].filter((n): n is string => typeof n === 'string');
  const detection = detectVariant(analysis.guidance, transformerConfig, schedulerConfig, names);
  warnings.push(...detection.warnings);
  const built = buildBundleConfig({
    name: options.name ?? basename(layout.dir),
    description: `FLUX.1-${detection.variant} imported from ${layout.dir} by dype import (RoPE fed by rope_omega/rope_mscale).`,
    variant: detection.variant,
    transformer: transformerConfig,
    vae: vaeConfig,
    clipTokenizerConfig: clipConfig,
    rope,
  });
  defaultsUsed.push(...built.defaultsUsed);

  const clip = await importTokenizer(layout.tokenizer, join(staging, 'tokenizer'), 'clip', files, copy);
  const t5 = await importTokenizer(layout.tokenizer2, join(staging, 'tokenizer_2'), 't5', files, copy);
  const tokenizers = [
    checkTokenizer(join(staging, 'tokenizer'), clip, built.config.text.clipMaxLength),
    checkTokenizer(join(staging, 'tokenizer_2'), t5, built.config.text.t5MaxLength),
  ];

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
  // The unmodified graph (bar the wrapping and relinked data), beside the bundle's weights: the self-check's reference.
  const referencePath = join(outDir, 'reference.onnx.tmp');
  if (options.verify ?? true) await writeFileAtomic(referencePath, serializeModel(model));

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
  if (options.verify ?? true) {
    log('self-check: original vs imported transformer, 4×4 image tokens, native RoPE');
    verify = await verifyTransformer(referencePath, outPath, rope, analysis.dtype, options.device).catch((error: unknown) => {
      if (error instanceof ImportError) throw error;
      throw new ImportError(
        'verify_failed',
        `the self-check could not run the transformer on ${options.device ?? 'cpu'}: ${(error as Error).message}. ` +
          'Run it on another execution provider with --device, or skip it with --no-verify.',
        { cause: error },
      );
    });
    if (!verify.passed) {
      throw new ImportError(
        'verify_failed',
        `the imported transformer does not reproduce the original: max |Δ| ${verify.maxAbsDiff.toExponential(3)} > tolerance ${verify.tolerance.toExponential(3)} ` +
          `(outputs up to ${verify.maxAbsRef.toExponential(3)}); no bundle was written`,
      );
    }
  }
  await rm(referencePath, { force: true });

  // 5. The other models, scheduler, dype.json; then read the bundle back as the pipeline will.
  for (const [key, folder] of OTHER_MODELS) {
    const file = layout[key];
    const dst = join(staging, folder);
    await linkFolder(dirname(file), dst, files, copy, (rel) => extname(rel) === '.onnx');
    const io = otherIo[key];
    if ([...io.inputs, ...io.outputs].some((v) => elemType(v) === DataType.BFLOAT16)) {
      const other = readModel(file);
      bfloat16Wrapped[folder] = wrapBfloat16Boundary(other);
      await writeFileAtomic(join(dst, 'model.onnx'), serializeModel(other));
    } else {
      await linkOrCopy(file, join(dst, 'model.onnx'), files, copy);
    }
  }
  if (layout.scheduler) await linkFolder(dirname(layout.scheduler), join(staging, 'scheduler'), files, copy);
  else {
    const flavour = detection.variant === 'schnell' ? 'schnell' : 'dev';
    await writeFileAtomic(join(staging, 'scheduler', 'scheduler_config.json'), `${JSON.stringify(FLUX_SCHEDULERS[flavour], null, 2)}\n`);
    defaultsUsed.push(`scheduler: FLUX.1-${flavour}'s FlowMatchEulerDiscreteScheduler config`);
  }
  if (layout.modelIndex) await linkOrCopy(layout.modelIndex, join(staging, 'model_index.json'), files, copy);
  await writeFileAtomic(join(staging, 'dype.json'), `${JSON.stringify(built.config, null, 2)}\n`);
  try {
    readBundle(staging);
  } catch (error) {
    throw new ImportError('export_invalid', `the assembled bundle does not read back: ${(error as Error).message}`, { cause: error });
  }

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
    lines.push(
      `self-check   passed: max |Δ| ${v.maxAbsDiff.toExponential(2)} (tolerance ${v.tolerance.toExponential(2)}, outputs up to ${v.maxAbsRef.toFixed(3)}) ` +
        `on ${v.grid.rows}×${v.grid.cols} image + ${v.grid.textTokens} text tokens`,
    );
  } else lines.push('self-check   skipped (--no-verify)');
  for (const t of r.tokenizers) lines.push(`tokenizer    ${t.kind === 'clip' ? 'CLIP' : 'T5'} from ${t.source}: ${t.maxLength} ids, pad ${t.padId}, eos ${t.eosId}`);
  lines.push(`text         CLIP ${r.config.text.clipMaxLength}, T5 ${r.config.text.t5MaxLength} tokens; defaults ${r.config.defaults.steps} steps, guidance ${r.config.defaults.guidance ?? 'none'}`);
  lines.push(`files        ${r.files.linked} hard-linked, ${r.files.copied} copied${r.files.copiedBytes ? ` (${(r.files.copiedBytes / 2 ** 30).toFixed(2)} GiB)` : ''}`);
  for (const d of r.defaultsUsed) lines.push(`default      ${d}`);
  for (const w of r.warnings) lines.push(`warning      ${w}`);
  return lines.join('\n');
}
