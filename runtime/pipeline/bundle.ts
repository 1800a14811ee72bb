/** Reads and checks a model bundle folder (diffusers/optimum ONNX layout + our dype.json). */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ShiftConfig } from '../dype/index.ts';
import { BundleConfigSchema, type BundleConfig } from './bundle-config.ts';
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

export interface Bundle {
  dir: string;
  config: BundleConfig;
  shift: Partial<ShiftConfig>;
  paths: { [K in keyof typeof BUNDLE_FILES]: string };
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new PipelineError('bundle_invalid', `${what} (${path}) is not valid JSON: ${(error as Error).message}`);
  }
}

/** Maps diffusers' FlowMatchEulerDiscreteScheduler config onto our ShiftConfig. */
export function shiftFromSchedulerConfig(raw: unknown, path: string): Partial<ShiftConfig> {
  if (typeof raw !== 'object' || raw === null) throw new PipelineError('bundle_invalid', `${path} must hold a JSON object`);
  const c = raw as Record<string, unknown>;
  const num = (key: string): number | undefined => {
    if (c[key] === undefined || c[key] === null) return undefined;
    if (typeof c[key] !== 'number' || !Number.isFinite(c[key])) {
      throw new PipelineError('bundle_invalid', `${path}: ${key} must be a number, got ${JSON.stringify(c[key])}`);
    }
    return c[key] as number;
  };
  const shift: Partial<ShiftConfig> = { dynamic: c.use_dynamic_shifting === true };
  const fields: [keyof ShiftConfig, string][] = [
    ['baseImageSeqLen', 'base_image_seq_len'],
    ['maxImageSeqLen', 'max_image_seq_len'],
    ['baseShift', 'base_shift'],
    ['maxShift', 'max_shift'],
    ['shift', 'shift'],
  ];
  for (const [ours, theirs] of fields) {
    const value = num(theirs);
    if (value !== undefined) (shift as Record<string, number>)[ours] = value;
  }
  return shift;
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
  return { dir, config: parsed.data, shift, paths };
}
