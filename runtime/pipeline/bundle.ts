/** Reads and checks a model bundle folder (diffusers/optimum ONNX layout + our dype.json). */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { ShiftConfig } from '../dype/index.ts';
import { shiftFromSchedulerConfig } from './scheduler-config.ts';
import { BundleConfigSchema, type BundleConfig } from './bundle-config.ts';
import { verifyCheckpoints } from './checkpoints.ts';
import { PipelineError } from './errors.ts';

export const BUNDLE_FILES = {
  transformer: 'transformer/model.onnx',
  textEncoder: 'text_encoder/model.onnx',
  tokenizer: 'tokenizer',
  textEncoder2: 'text_encoder_2/model.onnx',
  tokenizer2: 'tokenizer_2',
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

export interface Bundle {
  dir: string;
  config: BundleConfig;
  shift: Partial<ShiftConfig>;
  paths: { [K in keyof typeof BUNDLE_FILES]: string };
  /** The VAE encoder, or null when the bundle declares none (no image-to-image). */
  vaeEncoder: string | null;
  /** The float16 transformer graph, or null when the bundle has none (imports, older conversions). */
  halfTransformer: string | null;
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
  const missing = Object.entries(BUNDLE_FILES).filter(([k]) => !existsSync(paths[k as keyof Bundle['paths']]));
  if (missing.length) {
    throw new PipelineError('bundle_invalid', `model bundle ${dir} is missing ${missing.map(([, rel]) => rel).join(', ')}`);
  }
  for (const tok of [paths.tokenizer, paths.tokenizer2]) {
    if (!existsSync(join(tok, 'tokenizer.json'))) throw new PipelineError('bundle_invalid', `model bundle ${dir} is missing ${join(tok, 'tokenizer.json')}`);
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
  return { dir, config: parsed.data, shift, paths, vaeEncoder, halfTransformer: existsSync(halfTransformer) ? halfTransformer : null };
}
