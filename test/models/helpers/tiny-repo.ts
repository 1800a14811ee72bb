/**
 * A tiny FLUX.1 repository as the Hub would hold it, ComfyUI style: the test checkpoints that
 * test/convert uses (BFL-keyed transformer, FLUX VAE, CLIP-L and T5 of the e2e size) at the top level,
 * tokenizer/ and tokenizer_2/ (the demo tokenizers, whose vocabularies fit those encoders), a README,
 * and a diffusers transformer/ folder that `hf:owner/repo` must leave alone (the top level has one).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clipTokenizerConfig, clipTokenizerJson, t5TokenizerConfig, t5TokenizerJson } from '../../../runtime/demo/tokenizers.ts';
import { ENCODER_FIXTURES, FLUX_FIXTURES } from '../../convert/helpers/flux-fixtures.ts';
import type { StandinFile } from './hub-standin.ts';

const json = (value: object) => new TextEncoder().encode(JSON.stringify(value));

export function tinyFluxFiles(): StandinFile[] {
  const lfs = (path: string, from: string): StandinFile => ({ path, bytes: readFileSync(from), lfs: true });
  return [
    lfs('flux1-dev.safetensors', join(FLUX_FIXTURES, 'flux-dev-bf16.safetensors')),
    lfs('ae.safetensors', join(ENCODER_FIXTURES, 'ae.safetensors')),
    lfs('clip_l.safetensors', join(FLUX_FIXTURES, 'e2e', 'clip_l.safetensors')),
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
