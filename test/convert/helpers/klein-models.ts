/**
 * A ComfyUI-like models folder of tiny FLUX.2 [klein] files with the real key names: the reference
 * transformer (bf16) and Qwen3 text encoder, a random FLUX.2 VAE with klein's 4 levels (16 px per
 * token, so a 4096×1024 image is 16384 tokens as on the real model), FLUX.1's VAE beside them (as in
 * ComfyUI's models/vae), and the tiny Qwen tokenizer as a --tokenizers folder.
 */
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENCODER_FIXTURES } from './flux-fixtures.ts';
import { KLEIN_FIXTURES } from './klein-fixtures.ts';
import { writeRandomCheckpoint } from './write-safetensors.ts';

export interface KleinModels {
  models: string;
  tokenizers: string;
}

export function writeKleinModels(root: string): KleinModels {
  const models = join(root, 'models');
  mkdirSync(join(models, 'diffusion_models'), { recursive: true });
  mkdirSync(join(models, 'text_encoders'), { recursive: true });
  mkdirSync(join(models, 'vae'), { recursive: true });
  cpSync(join(KLEIN_FIXTURES, 'flux-2-klein-4b.safetensors'), join(models, 'diffusion_models', 'flux-2-klein-4b.safetensors'));
  cpSync(join(KLEIN_FIXTURES, 'qwen_3_4b.safetensors'), join(models, 'text_encoders', 'qwen_3_4b.safetensors'));
  const shapes = JSON.parse(readFileSync(join(KLEIN_FIXTURES, 'full-size-shapes.json'), 'utf8')) as { e2e_vae: Record<string, number[]> };
  writeRandomCheckpoint(join(models, 'vae', 'flux2-vae.safetensors'), shapes.e2e_vae, 51);
  cpSync(join(ENCODER_FIXTURES, 'ae.safetensors'), join(models, 'vae', 'ae.safetensors'));
  const tokenizers = join(root, 'tokenizers');
  cpSync(join(KLEIN_FIXTURES, 'tokenizer'), join(tokenizers, 'tokenizer'), { recursive: true });
  return { models, tokenizers };
}
