/** Prompt → token ids with each family's padding/truncation, through @huggingface/tokenizers (offline). */
import { Tokenizer } from '@huggingface/tokenizers';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PipelineError } from './errors.ts';

/**
 * Qwen3's chat template for one user turn with the generation prompt added and thinking switched off
 * (an empty think block), as FLUX.2's Qwen3Embedder renders a prompt before tokenizing it.
 */
export function qwen3ChatText(prompt: string): string {
  return `<|im_start|>user\n${prompt}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n`;
}

/** Token ids and their attention mask (1 for a real token, 0 for padding), both int64 as the encoder takes them. */
export interface MaskedIds {
  ids: BigInt64Array;
  mask: BigInt64Array;
  /** Real tokens before padding. */
  length: number;
}

function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

export class PromptTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly eosId: number,
    readonly padId: number,
  ) {}

  /** Loads `tokenizer.json` (+ optional `tokenizer_config.json`) from a folder. */
  static load(dir: string): PromptTokenizer {
    const jsonPath = join(dir, 'tokenizer.json');
    if (!existsSync(jsonPath)) throw new PipelineError('bundle_invalid', `tokenizer file missing: ${jsonPath}`);
    const configPath = join(dir, 'tokenizer_config.json');
    let tokenizer: Tokenizer;
    let config: Record<string, unknown> = {};
    try {
      if (existsSync(configPath)) config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      tokenizer = new Tokenizer(JSON.parse(readFileSync(jsonPath, 'utf8')) as object, config);
    } catch (error) {
      throw new PipelineError('bundle_invalid', `tokenizer in ${dir} cannot be loaded: ${(error as Error).message}`);
    }
    const idOf = (key: string): number | undefined => {
      const name = tokenName(config[key]);
      return name === undefined ? undefined : tokenizer.token_to_id(name);
    };
    const eosId = idOf('eos_token');
    if (eosId === undefined) throw new PipelineError('bundle_invalid', `${configPath}: eos_token is missing or not in the vocabulary`);
    return new PromptTokenizer(tokenizer, eosId, idOf('pad_token') ?? eosId);
  }

  /** The id of a token of the vocabulary (an added token such as <|im_start|> included), or undefined. */
  idOf(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Tokens the prompt takes, special tokens included, before padding or truncation. */
  count(prompt: string): number {
    return this.tokenizer.encode(prompt).ids.length;
  }

  /**
   * Exactly `maxLength` ids: special tokens added by the tokenizer's post-processor, truncated
   * keeping the final EOS, then padded with the pad token (FLUX: CLIP 77, T5 512/256).
   */
  encode(prompt: string, maxLength: number): BigInt64Array {
    let ids: number[] = this.tokenizer.encode(prompt).ids;
    if (ids.length > maxLength) ids = [...ids.slice(0, maxLength - 1), this.eosId];
    const out = new BigInt64Array(maxLength).fill(BigInt(this.padId));
    ids.forEach((id, i) => (out[i] = BigInt(id)));
    return out;
  }

  /**
   * Exactly `maxLength` ids and a mask, as a Hugging Face tokenizer called with padding="max_length"
   * and truncation=True gives them: cut at `maxLength` (nothing put back), padded on the right with
   * the pad token, masked out where padded (FLUX.2's Qwen3 text, 512).
   */
  encodeMasked(text: string, maxLength: number): MaskedIds {
    const ids: number[] = this.tokenizer.encode(text).ids.slice(0, maxLength);
    const out = new BigInt64Array(maxLength).fill(BigInt(this.padId));
    const mask = new BigInt64Array(maxLength);
    ids.forEach((id, i) => {
      out[i] = BigInt(id);
      mask[i] = 1n;
    });
    return { ids: out, mask, length: ids.length };
  }
}
