/**
 * `dype pull <name | hf:owner/repo[/path]>` as one step: pull the files into the Hugging Face cache,
 * then (for catalog models and whole repositories) convert them with `dype convert`'s code into
 * `<data>/models/<name>`. The CLI and the companion both call this.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../files/atomic.ts';
import { convertCheckpoints, type ConvertOptions, type ConvertReport } from '../convert/index.ts';
import { isBundleFolder, readBundle } from '../bundle/read.ts';
import { findCatalogModel, loadCatalog, type CatalogModel } from './catalog.ts';
import { HubError, type HubConfig } from './hub.ts';
import { activeModelDir, describeBundle, modelsDir, readActive, SOURCE_FILE, writeActive, type ModelSource } from './installed.ts';
import { parseHfSpec, pull, type PullEvent, type PullOptions, type PullResult, type RepoSelection } from './pull.ts';

export type InstallEvent = PullEvent | { kind: 'convert'; line: string } | { kind: 'installed'; name: string; dir: string; active: boolean };

export interface InstallOptions extends Omit<PullOptions, 'onEvent'> {
  hub: HubConfig;
  cacheDir: string;
  dataDir: string;
  onEvent?: (event: InstallEvent) => void;
  /** Passed to dype convert (tests use tiny CLIP-like encoders). */
  convert?: Partial<Omit<ConvertOptions, 'output'>>;
}

export interface InstallPlan {
  /** Bundle name (folder under <data>/models), or null for a pull of files only. */
  name: string | null;
  catalog: CatalogModel | null;
  selections: RepoSelection[];
}

/** What a spec means: a catalog model, a whole repository (converted), or files (only pulled). */
export function planInstall(spec: string): InstallPlan {
  if (spec.startsWith('hf:')) {
    const selection = parseHfSpec(spec);
    const name = selection.paths ? null : selection.repo.split('/')[1].toLowerCase().replace(/[^a-z0-9.-]+/g, '-');
    return { name, catalog: null, selections: [selection] };
  }
  const model = findCatalogModel(spec);
  if (model) return { name: model.name, catalog: model, selections: model.sources.map((s) => ({ repo: s.repo, paths: s.paths })) };
  const encoders = loadCatalog().textEncoders.find((e) => e.name === spec);
  if (encoders) return { name: null, catalog: null, selections: encoders.sources.map((s) => ({ repo: s.repo, paths: s.paths })) };
  const names = [...loadCatalog().models, ...loadCatalog().textEncoders].map((m) => m.name);
  throw new HubError('not_found', `"${spec}" is not in the catalog (${names.join(', ')}) and not hf:<owner>/<repo>[/<path>]`);
}

export interface InstallResult {
  pulled: PullResult;
  /** The converted bundle, or null for a pull of files only. */
  bundle: { name: string; dir: string; converted: ConvertReport | null; active: boolean } | null;
}

const TOKENIZER_DIRS = new Set(['tokenizer', 'tokenizer_2']);

/** dype convert's inputs from the pulled files: top-level checkpoints as files, component folders as folders; and the snapshot with tokenizers. */
export function convertInputs(pulled: PullResult): { paths: string[]; tokenizers?: string } {
  const paths = new Set<string>();
  let tokenizers: string | undefined;
  for (const file of pulled.plan.files) {
    const snapshot = pulled.snapshots.get(file.repo)!;
    const top = file.path.split('/')[0];
    if (TOKENIZER_DIRS.has(top)) tokenizers ??= snapshot;
    else if (file.path.includes('/')) paths.add(join(snapshot, top));
    else if (/\.(safetensors|gguf)$/i.test(file.path)) paths.add(join(snapshot, file.path));
  }
  return { paths: [...paths], ...(tokenizers ? { tokenizers } : {}) };
}

export async function installModel(spec: string, options: InstallOptions): Promise<InstallResult> {
  const plan = planInstall(spec);
  const emit = options.onEvent ?? (() => {});
  const pulled = await pull(options.hub, plan.selections, options.cacheDir, { ...options, onEvent: emit });
  if (!plan.name) return { pulled, bundle: null };

  const dir = join(modelsDir(options.dataDir), plan.name);
  const commits = pulled.plan.repos.map((r) => ({ repo: r.repo, commit: r.commit }));
  let converted: ConvertReport | null = null;
  // converted again only when the bundle is missing, broken, or was made from other commits
  if (!(isBundleFolder(dir) && bundleIntact(dir) && JSON.stringify(describeBundle(plan.name, dir)?.source?.repos) === JSON.stringify(commits))) {
    if (options.signal?.aborted) throw new HubError('cancelled', 'stopped before converting; pull again to convert');
    const inputs = convertInputs(pulled);
    emit({ kind: 'convert', line: `converting ${inputs.paths.length} input(s) into ${dir}` });
    converted = await convertCheckpoints(inputs.paths, {
      ...options.convert,
      output: dir,
      name: plan.name,
      force: true,
      ...(inputs.tokenizers ? { tokenizers: inputs.tokenizers } : {}),
      log: (line) => emit({ kind: 'convert', line }),
    });
  }
  const source: ModelSource = { catalog: plan.catalog?.name ?? null, repos: commits, pulledAt: new Date().toISOString() };
  await writeFileAtomic(join(dir, SOURCE_FILE), `${JSON.stringify(source, null, 2)}\n`);
  // the first model installed becomes the active one; later ones are switched to explicitly
  if (readActive(options.dataDir) === null) await writeActive(options.dataDir, plan.name);
  // active: this bundle is the one npm start loads (just made so, or already, on a pull again)
  const active = activeModelDir(options.dataDir) === dir;
  emit({ kind: 'installed', name: plan.name, dir, active });
  return { pulled, bundle: { name: plan.name, dir, converted, active } };
}

/** An existing bundle whose checkpoints are still the files it was built from: nothing to convert again. */
function bundleIntact(dir: string): boolean {
  try {
    return existsSync(dir) && readBundle(dir) !== null;
  } catch {
    return false;
  }
}
