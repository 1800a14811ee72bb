// Where dype convert finds the tokenizers the checkpoints lack: --tokenizers, a diffusers folder
// next to the checkpoint, a ComfyUI install's own copies, the Hugging Face cache layout.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { holdsTokenizer } from '../../runtime/bundle/tokenizers.ts';
import { findTokenizer } from '../../runtime/convert/tokenizers.ts';
import { clipTokenizerJson, t5TokenizerJson } from '../../runtime/demo/tokenizers.ts';
import { tempRoot } from './helpers/flux-fixtures.ts';
import { KLEIN_FIXTURES } from './helpers/klein-fixtures.ts';

const { root, cleanup } = tempRoot('dype-convert-tok-');
afterAll(cleanup);

function put(dir: string, files: Record<string, string | object>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

describe('finding tokenizers', () => {
  it('tells CLIP (BPE) and T5 (Unigram) apart by the tokenizer.json model type, and accepts the older files', () => {
    const clip = put(join(root, 'kinds', 'a'), { 'tokenizer.json': clipTokenizerJson() });
    const t5 = put(join(root, 'kinds', 'b'), { 'tokenizer.json': t5TokenizerJson() });
    expect([holdsTokenizer(clip, 'clip'), holdsTokenizer(clip, 't5'), holdsTokenizer(t5, 't5'), holdsTokenizer(t5, 'clip')]).toEqual([true, false, true, false]);
    expect(holdsTokenizer(put(join(root, 'kinds', 'c'), { 'vocab.json': {}, 'merges.txt': '' }), 'clip')).toBe(true);
    expect(holdsTokenizer(put(join(root, 'kinds', 'd'), { 'spiece.model': '' }), 't5')).toBe(true);
  });

  it("tells Qwen3's BPE from CLIP's by its chat tokens, and finds it in a klein diffusers folder or the HF cache", () => {
    const qwenJson = JSON.parse(readFileSync(join(KLEIN_FIXTURES, 'tokenizer', 'tokenizer.json'), 'utf8')) as object;
    const qwen = put(join(root, 'kinds', 'q'), { 'tokenizer.json': qwenJson });
    const clip = put(join(root, 'kinds', 'a2'), { 'tokenizer.json': clipTokenizerJson() });
    expect([holdsTokenizer(qwen, 'qwen'), holdsTokenizer(qwen, 'clip'), holdsTokenizer(clip, 'qwen'), holdsTokenizer(clip, 'clip')]).toEqual([true, false, false, true]);
    // slow CLIP files are never taken for Qwen's
    expect(holdsTokenizer(put(join(root, 'kinds', 'c2'), { 'vocab.json': {}, 'merges.txt': '' }), 'qwen')).toBe(false);

    const klein = join(root, 'FLUX.2-klein-4B');
    put(join(klein, 'tokenizer'), { 'tokenizer.json': qwenJson });
    expect(findTokenizer('qwen', { near: [join(klein, 'transformer', 'diffusion_pytorch_model.safetensors')], hubCache: null })).toBe(join(klein, 'tokenizer'));
    const hub = join(root, 'hub-qwen');
    put(join(hub, 'models--Qwen--Qwen3-4B', 'snapshots', 'abc'), { 'tokenizer.json': qwenJson });
    expect(findTokenizer('qwen', { near: [join(root, 'elsewhere', 'qwen_3_4b.safetensors')], hubCache: hub })).toBe(join(hub, 'models--Qwen--Qwen3-4B', 'snapshots', 'abc', ''));
  });

  it('looks in a diffusers folder above a transformer shard, then a ComfyUI install, then the HF cache', () => {
    const diffusers = join(root, 'FLUX.1-dev');
    const shard = join(diffusers, 'transformer', 'diffusion_pytorch_model-00001-of-00003.safetensors');
    put(join(diffusers, 'tokenizer'), { 'tokenizer.json': clipTokenizerJson() });
    expect(findTokenizer('clip', { near: [shard], hubCache: null })).toBe(join(diffusers, 'tokenizer'));

    const comfy = join(root, 'ComfyUI');
    const t5File = join(comfy, 'models', 'text_encoders', 't5xxl_fp16.safetensors');
    put(join(comfy, 'comfy', 'text_encoders', 't5_tokenizer'), { 'tokenizer.json': t5TokenizerJson() });
    expect(findTokenizer('t5', { near: [t5File], hubCache: null })).toBe(join(comfy, 'comfy', 'text_encoders', 't5_tokenizer'));

    const hub = join(root, 'hub');
    const snapshot = join(hub, 'models--black-forest-labs--FLUX.1-schnell', 'snapshots', '741f7c3ce8b383c54771c7003378a50191e9efe9');
    put(join(snapshot, 'tokenizer_2'), { 'spiece.model': '' });
    expect(findTokenizer('t5', { near: [join(root, 'elsewhere', 'x.safetensors')], hubCache: hub })).toBe(join(snapshot, 'tokenizer_2'));
    expect(findTokenizer('clip', { near: [join(root, 'elsewhere', 'x.safetensors')], hubCache: hub })).toBeNull();
  });

  it('prefers --tokenizers over everything else', () => {
    const given = put(join(root, 'given', 'tokenizer'), { 'tokenizer.json': clipTokenizerJson() });
    const near = join(root, 'FLUX.1-dev', 'transformer', 'x.safetensors');
    expect(findTokenizer('clip', { dir: join(root, 'given'), near: [near], hubCache: null })).toBe(given);
  });
});
