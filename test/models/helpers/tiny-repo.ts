/**
 * A tiny FLUX.1 repository as the Hub would hold it, ComfyUI style: a BFL-keyed transformer and a
 * CLIP with 64-wide heads as CLIP-L has (test/models/fixtures, written by make_tiny_repo.py, so
 * `dype convert` takes them with no test-only option), test/convert's FLUX VAE and e2e T5 at the top level,
 * tokenizer/ and tokenizer_2/ (the demo tokenizers, whose vocabularies fit those encoders), a README,
 * and a diffusers transformer/ folder that `hf:owner/repo` must leave alone (the top level has one).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clipTokenizerConfig, clipTokenizerJson, t5TokenizerConfig, t5TokenizerJson } from '../../../runtime/demo/tokenizers.ts';
import { ENCODER_FIXTURES, FLUX_FIXTURES } from '../../convert/helpers/flux-fixtures.ts';
import type { StandinFile } from './hub-standin.ts';

const TINY_REPO_FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const json = (value: object) => new TextEncoder().encode(JSON.stringify(value));

export function tinyFluxFiles(): StandinFile[] {
  const lfs = (path: string, from: string): StandinFile => ({ path, bytes: readFileSync(from), lfs: true });
  return [
    lfs('flux1-dev.safetensors', join(TINY_REPO_FIXTURES, 'flux1-dev.safetensors')),
    lfs('ae.safetensors', join(ENCODER_FIXTURES, 'ae.safetensors')),
    lfs('clip_l.safetensors', join(TINY_REPO_FIXTURES, 'clip_l.safetensors')),
    lfs('t5xxl_fp16.safetensors', join(FLUX_FIXTURES, 'e2e', 't5xxl_fp16.safetensors')),
    { path: 'tokenizer/tokenizer.json', bytes: json(clipTokenizerJson()) },
    { path: 'tokenizer/tokenizer_config.json', bytes: json(clipTokenizerConfig()) },
    { path: 'tokenizer_2/tokenizer.json', bytes: json(t5TokenizerJson()) },
    { path: 'tokenizer_2/tokenizer_config.json', bytes: json(t5TokenizerConfig()) },
    { path: 'README.md', bytes: new TextEncoder().encode('# tiny FLUX.1\n') },
    lfs('transformer/diffusion_pytorch_model.safetensors', join(FLUX_FIXTURES, 'flux-dev-f16.safetensors')),
  ];
}

/** What `hf:owner/repo` takes from it. */
export const TINY_PULLED = [
  'flux1-dev.safetensors',
  'ae.safetensors',
  'clip_l.safetensors',
  't5xxl_fp16.safetensors',
  'tokenizer/tokenizer.json',
  'tokenizer/tokenizer_config.json',
  'tokenizer_2/tokenizer.json',
  'tokenizer_2/tokenizer_config.json',
];
