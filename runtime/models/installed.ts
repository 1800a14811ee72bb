/**
 * Installed models: bundles under `<data>/models/<name>` (what `dype pull` writes), and which one is
 * active (`<data>/active-model.json`, which `npm start` loads). `--model NAME|DIR` names either.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../files/atomic.ts';
import { BundleConfigSchema, type BundleConfig } from '../bundle/config.ts';
import { BUNDLE_FILES } from '../bundle/read.ts';
import { findCatalogModel, type CatalogModel } from './catalog.ts';

export const MODELS_DIR = 'models';
export const ACTIVE_FILE = 'active-model.json';
/** Written into a pulled bundle: where it came from, so `dype models` can name its licence. */
export const SOURCE_FILE = 'dype-source.json';

export const ModelSourceSchema = z
  .object({
    /** The catalog entry it was pulled as, if any. */
    catalog: z.string().nullable(),
    repos: z.array(z.object({ repo: z.string(), commit: z.string() })),
    pulledAt: z.string(),
  })
  .strict();
export type ModelSource = z.output<typeof ModelSourceSchema>;

export function modelsDir(dataDir: string): string {
  return join(dataDir, MODELS_DIR);
}

export interface InstalledModel {
  name: string;
  dir: string;
  config: BundleConfig;
  source: ModelSource | null;
  catalog: CatalogModel | null;
}

function readConfig(dir: string): BundleConfig | null {
  try {
    const parsed = BundleConfigSchema.safeParse(JSON.parse(readFileSync(join(dir, BUNDLE_FILES.config), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function readSource(dir: string): ModelSource | null {
  try {
    const parsed = ModelSourceSchema.safeParse(JSON.parse(readFileSync(join(dir, SOURCE_FILE), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function describeBundle(name: string, dir: string): InstalledModel | null {
  const config = readConfig(dir);
  if (!config) return null;
  const source = readSource(dir);
  const catalog = findCatalogModel(source?.catalog ?? name) ?? null;
  return { name, dir, config, source, catalog };
}

/** Every bundle in the models folder, by name (folders being built, `*.partial-*`, are skipped). */
export function listInstalled(dataDir: string): InstalledModel[] {
  const root = modelsDir(dataDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => !name.includes('.partial-') && !name.includes('.old-'))
    .sort()
    .map((name) => describeBundle(name, join(root, name)))
    .filter((m): m is InstalledModel => m !== null);
}

const ActiveSchema = z.object({ model: z.string().min(1) }).strict();

/** The active model as recorded (a name in the models folder, or a bundle folder), or null. */
export function readActive(dataDir: string): string | null {
  try {
    const parsed = ActiveSchema.safeParse(JSON.parse(readFileSync(join(dataDir, ACTIVE_FILE), 'utf8')));
    return parsed.success ? parsed.data.model : null;
  } catch {
    return null;
  }
}

export async function writeActive(dataDir: string, model: string): Promise<void> {
  await writeFileAtomic(join(dataDir, ACTIVE_FILE), `${JSON.stringify({ model })}\n`);
}

export async function clearActive(dataDir: string): Promise<void> {
  await rm(join(dataDir, ACTIVE_FILE), { force: true });
}

/**
 * Makes `model` (a name or a folder) the active one: recorded as its name when it is an installed
 * model, else as the folder's absolute path. Returns the folder.
 */
export async function setActive(dataDir: string, model: string): Promise<string> {
  const dir = resolveModelRef(model, dataDir);
  await writeActive(dataDir, dir === join(modelsDir(dataDir), model) ? model : dir);
  return dir;
}

export class ModelNotFoundError extends Error {
  constructor(model: string, dataDir: string) {
    const names = listInstalled(dataDir).map((m) => m.name);
    super(`no model "${model}": it is neither a bundle folder nor a model in ${modelsDir(dataDir)} (${names.length ? `installed: ${names.join(', ')}` : 'none installed yet; dype pull <name> installs one, dype models lists the catalog'})`);
    this.name = 'ModelNotFoundError';
  }
}

/** `--model NAME|DIR`: a folder if one exists at that path, else an installed model's name. */
export function resolveModelRef(model: string, dataDir: string): string {
  const asPath = resolve(model);
  // a path is taken as one (a missing folder is then reported by the bundle reader, naming it)
  if (isAbsolute(model) || model.includes('/') || model.includes('\\') || model.startsWith('.')) return asPath;
  const named = join(modelsDir(dataDir), model);
  if (/^[\w.-]+$/.test(model) && !model.startsWith('.') && readConfig(named)) return named;
  if (existsSync(asPath) && statSync(asPath).isDirectory()) return asPath;
  throw new ModelNotFoundError(model, dataDir);
}

/** The active model's folder, or null when none is set or it is gone. */
export function activeModelDir(dataDir: string): string | null {
  const active = readActive(dataDir);
  if (!active) return null;
  try {
    return resolveModelRef(active, dataDir);
  } catch {
    return null;
  }
}
