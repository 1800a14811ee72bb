/** Reads and checks a model bundle folder (diffusers/optimum ONNX layout + our dype.json). */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { ShiftConfig } from '../dype/index.ts';
import { shiftFromSchedulerConfig } from './scheduler.ts';
import { BundleConfigSchema, FAMILY_IDS, type BundleConfig, type FamilyId } from './config.ts';
import { verifyCheckpoints } from './checkpoints.ts';
import type { ContractSpec } from './contract.ts';
import { FLUX1_CONTRACT } from './flux1.ts';
import { FLUX2_CONTRACT } from './flux2.ts';
import { PipelineError } from '../pipeline/errors.ts';

/** The files of every bundle; each family adds its text encoders' folders (its ContractSpec). */
export const BUNDLE_FILES = {
  transformer: 'transformer/model.onnx',
  vaeDecoder: 'vae_decoder/model.onnx',
  scheduler: 'scheduler/scheduler_config.json',
  config: 'dype.json',
} as const;

/** Present when dype.json says `vae.encoder: true`. */
export const VAE_ENCODER_FILE = 'vae_encoder/model.onnx';

/**
 * A converted bundle's float16 transformer graph, beside the float32 one and over the same weights:
 * loaded on providers that compute in float16 (runtime/memory/plan.ts transformerPrecision).
 */
export const HALF_MODEL_FILE = 'model.fp16.onnx';
export const HALF_TRANSFORMER_FILE = `transformer/${HALF_MODEL_FILE}`;

/** Each family's contract, as this version knows it; a family without one is refused by name. */
export const FAMILY_CONTRACTS: Readonly<Partial<Record<FamilyId, ContractSpec>>> = Object.freeze({ flux1: FLUX1_CONTRACT, flux2: FLUX2_CONTRACT });

export interface Bundle {
  dir: string;
  config: BundleConfig;
  shift: Partial<ShiftConfig>;
  paths: { [K in keyof typeof BUNDLE_FILES]: string };
  /** Each text encoder's model and tokenizer folder, by the family's encoder key. */
  text: Record<string, { model: string; tokenizer: string }>;
  /** The VAE encoder, or null when the bundle declares none (no image-to-image). */
  vaeEncoder: string | null;
  /** The float16 transformer graph, or null when the bundle has none (imports, older conversions). */
  halfTransformer: string | null;
}

/** The family dype.json names, read leniently (the full check comes after the files): FLUX.1 when it names none. */
function declaredFamily(path: string): FamilyId {
  try {
    const family = (JSON.parse(readFileSync(path, 'utf8')) as { family?: unknown }).family;
    return (FAMILY_IDS as readonly unknown[]).includes(family) ? (family as FamilyId) : 'flux1';
  } catch {
    return 'flux1';
  }
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new PipelineError('bundle_invalid', `${what} (${path}) is not valid JSON: ${(error as Error).message}`);
  }
}

/** Whether `dir` holds a dype bundle (its dype.json says so); a folder that does not is never replaced. */
export function isBundleFolder(dir: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(dir, BUNDLE_FILES.config), 'utf8')) as { format?: unknown }).format === 'dype-bundle';
  } catch {
    return false;
  }
}

/**
 * Whether `target` may be replaced by a new bundle: absent or an empty folder; or, with `force`, a
 * folder holding a bundle that does not contain `source` (what the bundle is made from). Anything else
 * is refused with the caller's error: --force never removes a folder that is not a bundle (say,
 * `-o ~/Documents --force`).
 */
export function checkBundleTarget(target: string, options: { force: boolean; source?: string; refuse: (message: string) => Error }): void {
  const { force, source, refuse } = options;
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw refuse(`${target} exists and is not a folder; choose another bundle folder`);
  if (readdirSync(target).length === 0) return;
  if (!isBundleFolder(target)) {
    throw refuse(
      `${target} is not empty and is not a dype bundle (it has no dype.json of format "dype-bundle"): refusing to replace it${force ? ', even with --force' : ''}. ` +
        'Choose a new or empty folder for the bundle.',
    );
  }
  if (!force) throw refuse(`${target} already holds a bundle; pass --force to replace it`);
  if (source === undefined) return;
  const inside = relative(target, source);
  if (!inside.startsWith('..') && !isAbsolute(inside)) throw refuse(`${source} lies inside the bundle ${target} that --force would replace`);
}

export function readBundle(dir: string): Bundle {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new PipelineError('bundle_missing', `model bundle folder not found: ${dir}`);
  }
  const paths = Object.fromEntries(Object.entries(BUNDLE_FILES).map(([k, rel]) => [k, join(dir, rel)])) as Bundle['paths'];
  const family = declaredFamily(paths.config);
  const contract = FAMILY_CONTRACTS[family];
  if (!contract) throw new PipelineError('bundle_invalid', `model bundle ${dir} holds a ${family} model, which this version of dype cannot run yet`);
  const encoders = Object.values(contract.textEncoders).flatMap((e) => [`${e.folder}/model.onnx`, e.tokenizer]);
  const files = [BUNDLE_FILES.transformer, ...encoders, BUNDLE_FILES.vaeDecoder, BUNDLE_FILES.scheduler, BUNDLE_FILES.config];
  const missing = files.filter((rel) => !existsSync(join(dir, rel)));
  if (missing.length) throw new PipelineError('bundle_invalid', `model bundle ${dir} is missing ${missing.join(', ')}`);
  const text = Object.fromEntries(Object.entries(contract.textEncoders).map(([key, e]) => [key, { model: join(dir, e.folder, 'model.onnx'), tokenizer: join(dir, e.tokenizer) }]));
  for (const { tokenizer } of Object.values(text)) {
    if (!existsSync(join(tokenizer, 'tokenizer.json'))) throw new PipelineError('bundle_invalid', `model bundle ${dir} is missing ${join(tokenizer, 'tokenizer.json')}`);
  }
  const parsed = BundleConfigSchema.safeParse(readJson(paths.config, 'dype.json'));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PipelineError('bundle_invalid', `${paths.config} is invalid: ${issues}`);
  }
  const shift = shiftFromSchedulerConfig(readJson(paths.scheduler, 'scheduler config'), paths.scheduler);
  const vaeEncoder = parsed.data.vae.encoder ? join(dir, VAE_ENCODER_FILE) : null;
  if (vaeEncoder && !existsSync(vaeEncoder)) throw new PipelineError('bundle_invalid', `dype.json says vae.encoder but ${vaeEncoder} is missing`);
  verifyCheckpoints(dir); // a converted bundle's weights: still the files it was built from
  const halfTransformer = join(dir, HALF_TRANSFORMER_FILE);
  return { dir, config: parsed.data, shift, paths, text, vaeEncoder, halfTransformer: existsSync(halfTransformer) ? halfTransformer : null };
}
