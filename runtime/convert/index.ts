/**
 * `dype convert`: safetensors checkpoints (BFL, ComfyUI, diffusers) → a DyPE-ready bundle, with no
 * weight copied and no Python. What is family-specific is the family's ConvertRecipe (recipes/).
 *
 * 1. Read every checkpoint's header and recognise its components (runtime/convert/architectures.ts);
 *    the transformer's family picks the recipe, and exactly one of each of its components must be there.
 * 2. Derive each component's sizes from its tensor shapes (refusing a missing or misshapen tensor,
 *    naming the file and the key) and check that the components fit together.
 * 3. Find the tokenizers (they are not in the checkpoints), before any file is written.
 * 4. Assemble the bundle next to the target: per model folder, the checkpoint hard-linked in (else
 *    reflinked, else copied after saying so) and a graph whose initializers are external data at the
 *    tensors' offsets in it; tokenizers, scheduler, dype.json, and checkpoints.json (each file's size
 *    and header hash). Read it back as the pipeline will, then rename it into place.
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { link, mkdir } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { fingerprint, headerLengthPrefix, headerSha256, type CheckpointRecord } from '../bundle/checkpoints.ts';
import type { BundleConfig, FamilyId } from '../bundle/config.ts';
import { checkBundleTarget, HALF_MODEL_FILE } from '../bundle/read.ts';
import { TOKENIZER_SOURCES, type TokenizerCheck } from '../bundle/tokenizers.ts';
import { finishBundle } from '../bundle/write.ts';
import { writeFileAtomic } from '../files/atomic.ts';
import { replaceFolder } from '../files/folder.ts';
import { formatBytes, placeFile, type PlacedHow } from '../files/place.ts';
import { GraphBuilder } from '../onnx/builder.ts';
import { ARCHITECTURES, COMPONENT_LABELS, type ComponentKind } from './architectures.ts';
import { checkFreeSpace, componentWeights, plannedWeightsBytes } from './component-weights.ts';
import { ConvertError } from './errors.ts';
import { checkpointKeys, readInputs, type Checkpoint } from './inputs.ts';
import { PACKED_WEIGHTS_FILE, QUANTIZATION_METADATA } from './packed-weights.ts';
import type { QuantizeMode } from './quantize.ts';
import { FLUX1_RECIPE } from './recipes/flux1.ts';
import { FLUX2_RECIPE } from './recipes/flux2.ts';
import { ZIMAGE_RECIPE } from './recipes/zimage.ts';
import type { ConvertRecipe, Found, RecipeOptions } from './recipes/types.ts';
import type { ComputeType, ConversionCounts } from './source.ts';
import type { WeightSource } from './weights.ts';
import { writeTokenizers, type TokenizerSearch } from './tokenizers.ts';

export { readInputs, type Checkpoint } from './inputs.ts';

/**
 * Opset and IR version of every converted graph: opset 19 has Cast from float8; IR 9 has the float8
 * types. (GraphBuilder writes Reduce/Split in this opset's form.)
 */
export const CONVERTED_OPSET = 19;
export const CONVERTED_IR_VERSION = 9;

export { ConvertError } from './errors.ts';

export interface ConvertOptions extends RecipeOptions {
  /** Bundle folder to create. */
  output: string;
  name?: string;
  /** --tokenizers: a folder with tokenizer/ and tokenizer_2/. */
  tokenizers?: string;
  /** Hugging Face hub cache to search for tokenizers (null: none; default: the user's). */
  hubCache?: string | null;
  /** Replace an existing bundle folder (never any other non-empty folder). */
  force?: boolean;
  /** Refuse to copy a checkpoint when it can be neither hard-linked nor reflinked. */
  noCopy?: boolean;
  /** Block-quantize the transformer and T5 of float checkpoints (GGUF components are repacked whatever this says). */
  quantize?: QuantizeMode;
  log?: (line: string) => void;
}

export interface ComponentReport {
  kind: ComponentKind;
  label: string;
  /** Checkpoint file(s) it came from. */
  files: string[];
  /** Bundle folders holding its graphs. */
  folders: string[];
  dtypes: ConversionCounts;
  /** GGUF block type(s) or `q8 (--quantize)`; absent for float weights used as stored. */
  quantization?: string;
  /** Bytes of the component's weights file (repacked or quantized blocks), 0 when none. */
  packedBytes: number;
}

export interface ConvertReport {
  bundleDir: string;
  family: FamilyId;
  variant: string;
  /** One line on the model (family, variant, blocks, widths). */
  model: string;
  components: ComponentReport[];
  placed: (CheckpointRecord & { bytes: number })[];
  /** Bytes the bundle added to the disk: graphs, metadata, tokenizers and any copied checkpoint. */
  extraBytes: number;
  tokenizers: (TokenizerCheck & { from: string })[];
  config: BundleConfig;
  defaultsUsed: string[];
  /** Checkpoints in the given folders that are not FLUX.1 components (LoRAs, other models). */
  ignored: string[];
}

/** The families `dype convert` can build, by family; a recognised family without one is named and refused. */
const RECIPES: Readonly<Partial<Record<FamilyId, ConvertRecipe<unknown>>>> = Object.freeze({ flux1: FLUX1_RECIPE, flux2: FLUX2_RECIPE, zimage: ZIMAGE_RECIPE });

/** The families a recipe exists for, as messages name them. */
const SUPPORTED_FAMILIES = Object.values(RECIPES).map((r) => r.label).join(', ');

/** Which component goes where, refusing what cannot make a bundle. */
function selectComponents(checkpoints: Checkpoint[], explicit: ReadonlySet<string>): { recipe: ConvertRecipe<unknown>; found: Record<ComponentKind, Found>; ignored: string[] } {
  const byKind = new Map<ComponentKind, Found[]>();
  const ignored: string[] = [];
  for (const checkpoint of checkpoints) {
    if (checkpoint.components.length === 0) {
      if (explicit.has(checkpoint.path)) {
        throw new ConvertError(
          `${checkpoint.path} is not a checkpoint dype convert knows: it holds none of the FLUX.1 transformer, FLUX VAE, CLIP-L or T5-XXL, ` +
            `nor the FLUX.2 transformer, FLUX.2 VAE, Qwen3 text encoder or Z-Image transformer ` +
            `(first keys: ${checkpointKeys(checkpoint).slice(0, 3).join(', ') || 'none'})`,
        );
      }
      ignored.push(checkpoint.path);
      continue;
    }
    for (const { architecture, prefix } of checkpoint.components) {
      if (!architecture.supported || !RECIPES[architecture.family]) throw new ConvertError(`${checkpoint.path} is a ${architecture.label}; dype convert supports ${SUPPORTED_FAMILIES} so far`);
      const list = byKind.get(architecture.component) ?? [];
      list.push({ kind: architecture.component, architecture, checkpoint, prefix });
      byKind.set(architecture.component, list);
    }
  }
  // The transformer says which family the bundle is; FLUX.1 when none is given (its message names what is missing).
  const recipe = RECIPES[byKind.get('transformer')?.[0].architecture.family ?? 'flux1']!;
  // Which family's architecture each component must be: the recipe's own, or the one it shares (Z-Image takes FLUX.1's AE).
  const familyOf = (kind: ComponentKind) => recipe.sharedComponents?.[kind] ?? recipe.family;
  // Another family's components in a models folder (a FLUX.1 VAE beside FLUX.2's) are not this bundle's.
  for (const [kind, list] of byKind) {
    const others = list.filter((f) => f.architecture.family !== familyOf(kind) && kind !== 'transformer');
    for (const f of others) {
      if (explicit.has(f.checkpoint.path)) throw new ConvertError(`${f.checkpoint.path} is a ${f.architecture.label}, which does not go with a ${recipe.label} transformer`);
      ignored.push(f.checkpoint.path);
    }
    byKind.set(kind, list.filter((f) => !others.includes(f)));
  }
  const found = {} as Record<ComponentKind, Found>;
  const missing: ComponentKind[] = [];
  for (const kind of recipe.components) {
    const list = byKind.get(kind) ?? [];
    if (list.length > 1) {
      throw new ConvertError(`more than one ${COMPONENT_LABELS[kind]} given: ${list.map((f) => f.checkpoint.path + (f.prefix ? ` (${f.prefix}*)` : '')).join(', ')}; pass only the one to use`);
    }
    if (list.length === 0) missing.push(kind);
    else found[kind] = list[0];
  }
  if (missing.length) {
    const usual = (kind: ComponentKind) => ARCHITECTURES.filter((a) => a.component === kind && a.family === familyOf(kind) && a.supported).map((a) => a.usualFiles).join(', or ');
    throw new ConvertError(`a ${recipe.label} bundle needs all ${recipe.components.length} of its components; missing: ${missing.map((k) => `${COMPONENT_LABELS[k]} (${usual(k)})`).join('; ')}`);
  }
  return { recipe, found, ignored };
}

/** A weight source over one component's checkpoint for its shapes (nothing written). */
function sourceFor(b: GraphBuilder, f: Found): WeightSource {
  return componentWeights(b, f, null).source;
}

export async function convertCheckpoints(inputs: readonly string[], options: ConvertOptions): Promise<ConvertReport> {
  const log = options.log ?? (() => {});
  const target = resolve(options.output);
  const explicit = new Set(inputs.map((p) => resolve(p)).filter((p) => existsSync(p) && statSync(p).isFile()));
  if (inputs.length === 0) throw new ConvertError('no checkpoints given: pass safetensors files or folders (dype convert --scan lists the ones on this machine)');

  // 1–2. Headers, components, sizes.
  const checkpoints = await readInputs(inputs);
  for (const c of checkpoints) {
    const rel = relative(target, c.path);
    if (!rel.startsWith('..') && !isAbsolute(rel)) throw new ConvertError(`the checkpoint ${c.path} lies inside the bundle folder ${target}`);
  }
  const { recipe, found, ignored } = selectComponents(checkpoints, explicit);
  for (const kind of Object.keys(found) as ComponentKind[]) log(`${COMPONENT_LABELS[kind]}: ${found[kind].checkpoint.path}${found[kind].prefix ? ` (keys under ${found[kind].prefix})` : ''}`);
  const derived = recipe.derive(found, (f) => sourceFor(new GraphBuilder('probe'), f), options);
  const variant = recipe.variant(derived, [found.transformer.checkpoint.path, ...inputs]);
  const model = recipe.describe(derived, variant);
  log(`model: ${model}`);

  const force = options.force ?? false;
  const report = await replaceFolder(target, () => checkBundleTarget(target, { force, refuse: (message) => new ConvertError(message) }), (staging) =>
    assemble(staging, { recipe, found, derived, variant }, options, log),
  );
  return { ...report, bundleDir: target, family: recipe.family, variant, model, ignored };
}

async function assemble(
  staging: string,
  plan: { recipe: ConvertRecipe<unknown>; found: Record<ComponentKind, Found>; derived: unknown; variant: string },
  options: ConvertOptions,
  log: (line: string) => void,
): Promise<Omit<ConvertReport, 'bundleDir' | 'ignored' | 'family' | 'variant' | 'model'>> {
  const { recipe, found, derived, variant } = plan;

  // dype.json first: the tokenizer check needs its text lengths.
  const built = recipe.bundleConfig(derived, variant, { name: options.name ?? basename(resolve(options.output)), source: basename(found.transformer.checkpoint.path) });

  // 3. Tokenizers (before the big work: a missing one is the most likely failure).
  const search: TokenizerSearch = {
    dir: options.tokenizers ? resolve(options.tokenizers) : undefined,
    near: Object.values(found).map((f) => f.checkpoint.path),
    hubCache: options.hubCache,
  };
  const tokenizers = await writeTokenizers(staging, search, recipe.tokenizers(built.config));
  for (const tk of tokenizers) log(`${TOKENIZER_SOURCES[tk.kind].label} tokenizer from ${tk.from}`);

  // 4. Graphs, each beside its checkpoint files.
  const placedAt = new Map<string, { path: string; how: PlacedHow }>();
  const placed: (CheckpointRecord & { bytes: number })[] = [];
  const place = async (header: Checkpoint['headers'][number], folder: string) => {
    const rel = join(folder, basename(header.file));
    const dst = join(staging, rel);
    const first = placedAt.get(header.file);
    let how: PlacedHow;
    if (first) {
      await link(first.path, dst); // the bundle's own copy or link: same filesystem
      how = first.how;
    } else {
      // A Hugging Face cache's checkpoint is a symlink into blobs/: link the file, not the link.
      how = await placeFile(realpathSync(header.file), dst, { noCopy: options.noCopy, log });
      placedAt.set(header.file, { path: dst, how });
    }
    // The graph's offsets come from the header as it was read: the placed file must still have it.
    const now = fingerprint(dst);
    const read = headerSha256(headerLengthPrefix(header.headerBytes.length), header.headerBytes);
    if (now.size !== header.fileSize || now.headerSha256 !== read) {
      throw new ConvertError(`${header.file} changed while it was being converted; try again`);
    }
    placed.push({ path: rel, source: header.file, how, size: now.size, headerSha256: now.headerSha256, bytes: first || how !== 'copy' ? 0 : now.size });
  };

  const components: ComponentReport[] = [];
  const graph = async (kind: ComponentKind, folder: string, build: (b: GraphBuilder, w: WeightSource) => void, compute: ComputeType = 'float32') => {
    const f = found[kind];
    const quantize = kind === 'transformer' || kind === 't5' ? options.quantize : undefined;
    const planned = plannedWeightsBytes(f, quantize);
    if (compute === 'float16' && planned) {
      // MatMulNBits blocks are read by the float32 graph on every provider; a float16 twin would need its own weights file.
      log(`${folder}/${HALF_MODEL_FILE}: not written (the weights are MatMulNBits blocks in ${PACKED_WEIGHTS_FILE})`);
      return;
    }
    const b = new GraphBuilder(folder);
    await mkdir(join(staging, folder), { recursive: true });
    if (planned) {
      checkFreeSpace(staging, planned, `${folder}/`);
      log(`${folder}: writing about ${formatBytes(planned)} of repacked weights (${PACKED_WEIGHTS_FILE}, ${f.checkpoint.gguf ? 'GGUF blocks for MatMulNBits' : `--quantize ${quantize}`})`);
    }
    const weights = componentWeights(b, f, planned ? join(staging, folder) : null, quantize, compute);
    let packedBytes: number;
    try {
      build(b, weights.source);
    } finally {
      packedBytes = weights.finish();
    }
    const { model } = b.serialize({
      opset: CONVERTED_OPSET,
      irVersion: CONVERTED_IR_VERSION,
      producerName: 'dype-convert',
      docString: `${f.architecture.label} from ${f.checkpoint.path}; weights are external data inside the checkpoint file(s) beside this model.`,
      metadata: weights.quantization ? { [QUANTIZATION_METADATA]: weights.quantization } : undefined,
    });
    const file = compute === 'float16' ? HALF_MODEL_FILE : 'model.onnx';
    if (compute === 'float16') {
      // The float16 twin of a graph already written: same folder, same placed checkpoints.
      await writeFileAtomic(join(staging, folder, file), model);
      log(`${folder}/${file}: ${(model.length / 1024).toFixed(0)} KiB graph (float16 compute, for GPU providers)`);
      return;
    }
    for (const header of f.checkpoint.headers) await place(header, folder);
    await writeFileAtomic(join(staging, folder, file), model);
    let report = components.find((c) => c.kind === kind);
    if (!report) {
      const files = f.checkpoint.gguf ? [f.checkpoint.path] : f.checkpoint.headers.map((h) => h.file);
      components.push((report = { kind, label: f.architecture.label, files, folders: [], dtypes: {}, quantization: weights.quantization, packedBytes: 0 }));
    }
    report.folders.push(folder);
    report.packedBytes += packedBytes;
    addCounts(report.dtypes, weights.conversions); // the VAE's two graphs: decoder and encoder weights together
    log(`${folder}/model.onnx: ${(model.length / 1024).toFixed(0)} KiB graph`);
  };
  for (const { kind, folder, build, compute } of recipe.graphs(derived)) await graph(kind, folder, build, compute);

  // 5. Scheduler, dype.json, the checkpoint record; then read the bundle back.
  const checkpoints = placed.map(({ bytes: _bytes, ...record }) => record);
  await finishBundle(staging, { config: built.config, scheduler: recipe.scheduler(variant), checkpoints }, (message, cause) => new ConvertError(message, { cause }));
  const linkedPaths = new Set(placed.map((p) => join(staging, p.path)));
  const extraBytes = folderBytes(staging, linkedPaths) + placed.reduce((n, p) => n + p.bytes, 0);
  return { components, placed, extraBytes, tokenizers, config: built.config, defaultsUsed: built.defaultsUsed };
}

/** Adds `more` (another graph's weights of the same component) into `into`. */
function addCounts(into: ConversionCounts, more: ConversionCounts): void {
  for (const [dtype, n] of Object.entries(more) as [keyof ConversionCounts, NonNullable<ConversionCounts[keyof ConversionCounts]>][]) {
    const sum = (into[dtype] ??= { tensors: 0, bytes: 0, cast: 0, scaled: 0 });
    sum.tensors += n.tensors;
    sum.bytes += n.bytes;
    sum.cast += n.cast;
    sum.scaled += n.scaled;
  }
}

/** Bytes of the files under `dir`, leaving out `skip` (the placed checkpoints). */
function folderBytes(dir: string, skip: ReadonlySet<string>): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(path, skip);
    else if (!skip.has(path)) total += statSync(path).size;
  }
  return total;
}
