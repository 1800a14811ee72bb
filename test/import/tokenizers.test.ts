// Tokenizers of an export, loaded through runtime/pipeline/text.ts with FLUX's padding/truncation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { t5TokenizerConfig, t5TokenizerJson } from '../../runtime/demo/tokenizers.ts';
import { importExport } from '../../runtime/import/index.ts';
import { checkTokenizer, importTokenizer } from '../../runtime/bundle/tokenizers.ts';
import { newTransferStats } from '../../runtime/files/place.ts';
import { PromptTokenizer } from '../../runtime/pipeline/text.ts';
import { CLIP_BOS, CLIP_EOS, clipVocab, writeExportFixture } from './fixtures/export.ts';
import { tempRoot } from './fixtures/run.ts';
import { mkdir, writeFile } from 'node:fs/promises';

const { root, cleanup } = tempRoot('dype-import-tok-');
afterAll(cleanup);
let counter = 0;

describe('CLIP from a slow tokenizer (vocab.json + merges.txt)', () => {
  it('BPE with </w> word ends: BOS, words, EOS, then EOS padding to 77; long prompts truncated to end in EOS', async () => {
    const exportDir = await writeExportFixture(join(root, `e${counter++}`), { t5Tokenizer: 'json' });
    const dst = join(root, `tok${counter++}`);
    const imported = await importTokenizer(join(exportDir, 'tokenizer'), dst, 'clip', newTransferStats());
    expect(imported.source).toBe('vocab.json + merges.txt');
    // Special tokens came from special_tokens_map.json into the written tokenizer_config.json.
    expect(JSON.parse(readFileSync(join(dst, 'tokenizer_config.json'), 'utf8'))).toMatchObject({ eos_token: CLIP_EOS, pad_token: CLIP_EOS, bos_token: CLIP_BOS });
    expect(JSON.parse(readFileSync(join(exportDir, 'tokenizer/tokenizer_config.json'), 'utf8')).eos_token).toBeUndefined(); // the export is untouched
    const { vocab } = clipVocab();
    const tok = PromptTokenizer.load(dst);
    const ids = Array.from(tok.encode('A  photo of\ta CAT!', 77), Number);
    const expected = [CLIP_BOS, 'a</w>', 'photo</w>', 'of</w>', 'a</w>', 'cat</w>', '!</w>', CLIP_EOS].map((t) => vocab[t]);
    expect(ids.slice(0, expected.length)).toEqual(expected);
    expect(ids.length).toBe(77);
    expect(new Set(ids.slice(expected.length))).toEqual(new Set([vocab[CLIP_EOS]]));
    const long = Array.from(tok.encode('the red sun '.repeat(40), 77), Number);
    expect(long.length).toBe(77);
    expect(long[0]).toBe(vocab[CLIP_BOS]);
    expect(long[76]).toBe(vocab[CLIP_EOS]);
    expect(checkTokenizer(dst, imported, 77).sample).toEqual([CLIP_BOS, 'a</w>', 'photo</w>', 'of</w>', 'a</w>', 'cat</w>', CLIP_EOS].map((t) => vocab[t]));
  });
});

describe('T5 Unigram', () => {
  it.each([
    ['tokenizer.json', 'json'],
    ['spiece.model (converted)', 'spm'],
  ] as const)('from %s: ids as the reference tokenizer.json gives, EOS then <pad> to 512', async (_label, t5Tokenizer) => {
    const exportDir = await writeExportFixture(join(root, `e${counter++}`), { t5Tokenizer });
    const dst = join(root, `tok${counter++}`);
    const imported = await importTokenizer(join(exportDir, 'tokenizer_2'), dst, 't5', newTransferStats());
    expect(imported.source).toBe(t5Tokenizer === 'json' ? 'tokenizer.json' : 'spiece.model');
    // Reference: the demo's T5 tokenizer.json, loaded directly.
    const refDir = join(root, `ref${counter++}`);
    await mkdir(refDir);
    await writeFile(join(refDir, 'tokenizer.json'), JSON.stringify(t5TokenizerJson()));
    await writeFile(join(refDir, 'tokenizer_config.json'), JSON.stringify(t5TokenizerConfig()));
    const ref = PromptTokenizer.load(refDir);
    const tok = PromptTokenizer.load(dst);
    for (const prompt of ['a photo of a cat', 'Colorful abstract painting of the sea, at 5 pm!', 'zebra  xylophone']) {
      const ids = tok.encode(prompt, 512);
      expect(Array.from(ids)).toEqual(Array.from(ref.encode(prompt, 512)));
      const n = Array.from(ids).indexOf(1n);
      expect(n).toBeGreaterThan(0);
      expect(Array.from(ids.slice(n + 1)).every((id) => id === 0n)).toBe(true);
    }
    const long = tok.encode('the city light '.repeat(200), 256);
    expect(long.length).toBe(256);
    expect(long[255]).toBe(1n);
  });

  it('schnell bundles pad T5 to 256, dev bundles to 512', async () => {
    for (const [guidance, length] of [[true, 512], [false, 256]] as const) {
      const exportDir = await writeExportFixture(join(root, `e${counter++}`), { guidance });
      const report = await importExport(exportDir, { output: join(root, `b${counter++}`), verify: false });
      const t5 = report.tokenizers.find((t) => t.kind === 't5')!;
      expect(t5.maxLength).toBe(length);
      expect(report.config.text.t5MaxLength).toBe(length);
    }
  });
});

describe('missing tokenizer files', () => {
  it.each([
    ['CLIP', { clipTokenizer: 'missing' }, /no tokenizer\/ folder \(CLIP tokenizer: tokenizer\.json, or vocab\.json \+ merges\.txt\)/],
    ['T5', { t5Tokenizer: 'missing' }, /no tokenizer_2\/ folder \(T5 tokenizer: tokenizer\.json or spiece\.model\)/],
  ] as const)('%s: a clear error, no bundle', async (_label, options, message) => {
    const exportDir = await writeExportFixture(join(root, `e${counter++}`), options);
    const output = join(root, `b${counter++}`);
    await expect(importExport(exportDir, { output, verify: false })).rejects.toMatchObject({ code: 'tokenizer_missing', message: expect.stringMatching(message) });
  });

  it('a tokenizer folder without usable files names the files it expected', async () => {
    const dir = join(root, `empty${counter++}`);
    await mkdir(dir);
    await writeFile(join(dir, 'tokenizer_config.json'), '{}');
    await expect(importTokenizer(dir, join(root, `x${counter++}`), 'clip', newTransferStats())).rejects.toThrow(/has no usable CLIP tokenizer: expected tokenizer\.json, or vocab\.json \+ merges\.txt/);
  });
});
