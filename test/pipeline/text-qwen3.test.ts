// FLUX.2 [klein]'s prompt tokens against the Python reference (test/convert/reference-flux2/
// make_fixtures.py: Qwen3's chat template with an empty think block, a byte-level BPE written there,
// truncated then right-padded to 512 with <|endoftext|> under an attention mask), through the tiny
// Qwen-style tokenizer.json it wrote (the real Qwen2/Qwen3 pre-tokenizer pattern and added tokens).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PromptTokenizer, qwen3ChatText } from '../../runtime/pipeline/text.ts';
import { KLEIN_FIXTURES, KLEIN_REFERENCE } from '../convert/helpers/klein-fixtures.ts';

const reference = KLEIN_REFERENCE.tokenizer;
const tokenizer = PromptTokenizer.load(join(KLEIN_FIXTURES, 'tokenizer'));

describe('Qwen3 chat prompt tokens', () => {
  it.each(Object.entries(reference.cases))('"%s" prompt: ids and mask equal the reference', (_name, c) => {
    const { ids, mask, length } = tokenizer.encodeMasked(qwen3ChatText(c.prompt), reference.max_length);
    expect([...ids].map(Number)).toEqual(c.input_ids);
    expect([...mask].map(Number)).toEqual(c.attention_mask);
    expect(length).toBe(c.attention_mask.reduce((a, b) => a + b, 0));
  });

  it('pads with <|endoftext|>, not with the end-of-turn token', () => {
    expect(tokenizer.padId).toBe(reference.pad_id);
    expect(tokenizer.eosId).not.toBe(reference.pad_id);
  });

  it('cuts a prompt longer than the window at the window, dropping the template tail', () => {
    const long = reference.cases.long;
    const { length, mask } = tokenizer.encodeMasked(qwen3ChatText(long.prompt), reference.max_length);
    expect(length).toBe(reference.max_length);
    expect(mask.every((m) => m === 1n)).toBe(true);
  });
});
