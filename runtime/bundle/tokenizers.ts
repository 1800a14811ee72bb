/**
 * A bundle's tokenizer folders, the one place that says which files make a tokenizer (for `dype
 * convert`'s search and `dype import`'s check alike) and makes them loadable by
 * runtime/pipeline/text.ts (@huggingface/tokenizers): `tokenizer.json` is used as it is; a slow CLIP
 * tokenizer (vocab.json + merges.txt) or a T5 SentencePiece model (spiece.model) is converted the way
 * transformers' convert_slow_tokenizer does (CLIPConverter, T5Converter). Special tokens missing from
 * tokenizer_config.json are taken from special_tokens_map.json.
 */
import { base64Encode, BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../files/atomic.ts';
import { linkFolder, type TransferStats } from '../files/place.ts';
import { PromptTokenizer, qwen3ChatText } from '../pipeline/text.ts';

export type TokenizerKind = 'clip' | 't5' | 'qwen';

/**
 * Where each tokenizer lives in a bundle, and the files that make one (a fast tokenizer.json of
 * `model`, or the slow files). CLIP and Qwen are both BPE: a Qwen tokenizer.json is told apart by
 * its chat tokens (`marker`), and only its fast form is used.
 */
export const TOKENIZER_SOURCES: Readonly<Record<TokenizerKind, { label: string; folder: string; model: string; marker?: string; slow: readonly string[]; files: string }>> = Object.freeze({
  clip: { label: 'CLIP', folder: 'tokenizer', model: 'BPE', slow: ['vocab.json', 'merges.txt'], files: 'tokenizer.json, or vocab.json + merges.txt' },
  t5: { label: 'T5', folder: 'tokenizer_2', model: 'Unigram', slow: ['spiece.model'], files: 'tokenizer.json or spiece.model' },
  qwen: { label: 'Qwen3', folder: 'tokenizer', model: 'BPE', marker: '<|im_start|>', slow: [], files: 'tokenizer.json with Qwen\'s chat tokens' },
});

/** Every file a tokenizer folder may be made from: the fast form, the configs, and each kind's slow files. */
export const TOKENIZER_FILES: readonly string[] = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', ...Object.values(TOKENIZER_SOURCES).flatMap((k) => k.slow)];

export type TokenizerSource = 'tokenizer.json' | 'vocab.json + merges.txt' | 'spiece.model';

/** Which files of `dir` a tokenizer of this kind would be made from, or null when it has none of them. */
export function tokenizerSource(dir: string, kind: TokenizerKind): TokenizerSource | null {
  const has = (file: string) => existsSync(join(dir, file));
  if (has('tokenizer.json')) return 'tokenizer.json';
  const slow = TOKENIZER_SOURCES[kind].slow;
  return slow.length > 0 && slow.every(has) ? (slow.join(' + ') as TokenizerSource) : null;
}

/** Whether `dir` holds a tokenizer of this kind; a tokenizer.json counts only when its model type is the right one. */
export function holdsTokenizer(dir: string, kind: TokenizerKind): boolean {
  const source = tokenizerSource(dir, kind);
  if (source !== 'tokenizer.json') return source !== null;
  try {
    const parsed = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model?: { type?: unknown }; added_tokens?: { content?: unknown }[] };
    const { model, marker } = TOKENIZER_SOURCES[kind];
    const marked = (parsed.added_tokens ?? []).some((t) => t.content === marker);
    // A CLIP folder must not be taken for Qwen's, nor Qwen's for CLIP's: the chat token decides.
    return parsed.model?.type === model && (marker === undefined ? !(parsed.added_tokens ?? []).some((t) => t.content === TOKENIZER_SOURCES.qwen.marker) : marked);
  } catch {
    return false;
  }
}

/** A tokenizer that is missing or unusable; `dype import` reports it as its own error with the same code. */
export class TokenizerError extends Error {
  constructor(
    readonly code: 'tokenizer_missing' | 'export_invalid',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TokenizerError';
  }
}

function readJsonObject(path: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new TokenizerError('export_invalid', `${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TokenizerError('export_invalid', `${path} must hold a JSON object`);
  return value as Record<string, unknown>;
}

const SPECIAL_DEFAULTS: Record<TokenizerKind, Record<string, string>> = {
  clip: { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>' },
  t5: { eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>' },
  // Qwen3: the end of a turn ends a prompt; <|endoftext|> pads (flux2's Qwen3Embedder pads with it).
  qwen: { eos_token: '<|im_end|>', pad_token: '<|endoftext|>' },
};

/** transformers' slow CLIPTokenizer keeps merges.txt lines [1, 49152 − 256 − 2 + 1). */
const CLIP_MAX_MERGES = 49152 - 256 - 2;

/** CLIP's pre-tokenizer split (transformers CLIPConverter). */
const CLIP_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}

function addedToken(id: number, content: string, normalized: boolean) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true };
}

/** tokenizer.json of CLIPTokenizerFast built from a slow CLIP tokenizer's vocab.json and merges.txt. */
export function clipTokenizerFromVocab(vocab: Record<string, number>, mergesText: string, specials: Record<string, string>): object {
  const merges = mergesText
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#version'))
    .slice(0, CLIP_MAX_MERGES)
    .map((line) => line.replace(/\r$/, ''));
  const bos = specials.bos_token;
  const eos = specials.eos_token;
  const idOf = (token: string) => {
    const id = vocab[token];
    if (id === undefined) throw new TokenizerError('tokenizer_missing', `CLIP vocab.json has no ${token}`);
    return id;
  };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(idOf(bos), bos, true), addedToken(idOf(eos), eos, true)],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, idOf(eos)], cls: [bos, idOf(bos)], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: specials.unk_token ?? eos,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

interface SentencePieceModel {
  pieces: { piece: string; score: number; type: number }[];
  unkId: number;
  precompiledCharsmap: Uint8Array;
}

/** Reads a SentencePiece ModelProto: pieces (1), trainer_spec.unk_id (2 → 40), normalizer_spec.precompiled_charsmap (3 → 2). */
export function readSentencePiece(bytes: Uint8Array): SentencePieceModel {
  const model: SentencePieceModel = { pieces: [], unkId: 0, precompiledCharsmap: new Uint8Array(0) };
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) {
      const p = new BinaryReader(r.bytes());
      const piece = { piece: '', score: 0, type: 1 };
      while (p.pos < p.len) {
        const [f, w] = p.tag();
        if (f === 1) piece.piece = p.string();
        else if (f === 2) piece.score = p.float();
        else if (f === 3) piece.type = p.int32();
        else p.skip(w, f);
      }
      model.pieces.push(piece);
    } else if ((field === 2 || field === 3) && wire === WireType.LengthDelimited) {
      const s = new BinaryReader(r.bytes());
      while (s.pos < s.len) {
        const [f, w] = s.tag();
        if (field === 2 && f === 40) model.unkId = s.int32();
        else if (field === 3 && f === 2) model.precompiledCharsmap = s.bytes();
        else s.skip(w, f);
      }
    } else r.skip(wire, field);
  }
  return model;
}

/** tokenizer.json of T5TokenizerFast built from spiece.model (+ `extra_ids` sentinel tokens). */
export function t5TokenizerFromSentencePiece(spm: SentencePieceModel, extraIds: number, specials: Record<string, string>): object {
  const vocab: [string, number][] = spm.pieces.map((p) => [p.piece, p.score]);
  for (let i = extraIds - 1; i >= 0; i--) vocab.push([`<extra_id_${i}>`, 0]);
  const eos = specials.eos_token;
  const eosId = vocab.findIndex(([p]) => p === eos);
  if (eosId < 0) throw new TokenizerError('tokenizer_missing', `spiece.model has no ${eos}`);
  const CONTROL = 3;
  const UNKNOWN = 2;
  const added = [
    ...spm.pieces.flatMap((p, id) => (p.type === CONTROL || p.type === UNKNOWN ? [addedToken(id, p.piece, false)] : [])),
    ...Array.from({ length: extraIds }, (_, k) => addedToken(spm.pieces.length + k, vocab[spm.pieces.length + k][0], false)),
  ];
  const normalizers: object[] = [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }];
  if (spm.precompiledCharsmap.length) normalizers.unshift({ type: 'Precompiled', precompiled_charsmap: base64Encode(spm.precompiledCharsmap) });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: eos, type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: eos, type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: eos, type_id: 0 } }],
      special_tokens: { [eos]: { id: eos, ids: [eosId], tokens: [eos] } },
    },
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: spm.unkId, vocab, byte_fallback: false },
  };
}

export interface TokenizerImport {
  kind: TokenizerKind;
  /** Which export files the tokenizer came from. */
  source: TokenizerSource;
}

/**
 * Links the export's tokenizer folder into `dst` and makes sure it holds a tokenizer.json and a
 * tokenizer_config.json naming its special tokens (written fresh, never through a link).
 */
export async function importTokenizer(src: string, dst: string, kind: TokenizerKind, stats: TransferStats, copy = false): Promise<TokenizerImport> {
  const { label, folder, files } = TOKENIZER_SOURCES[kind];
  if (!existsSync(src)) throw new TokenizerError('tokenizer_missing', `the export has no ${folder}/ folder (${label} tokenizer: ${files})`);
  const config = readJsonObject(join(src, 'tokenizer_config.json'));
  const specialMap = readJsonObject(join(src, 'special_tokens_map.json')) ?? {};
  const specials: Record<string, string> = { ...SPECIAL_DEFAULTS[kind] };
  let configChanged = config === null;
  const tokenizerConfig = config ?? {};
  for (const key of Object.keys(specials)) {
    const own = tokenContent(tokenizerConfig[key]);
    const mapped = tokenContent(specialMap[key]);
    if (own !== undefined) specials[key] = own;
    else {
      if (mapped !== undefined) specials[key] = mapped;
      tokenizerConfig[key] = specials[key];
      configChanged = true;
    }
  }

  const source = tokenizerSource(src, kind);
  let tokenizerJson: object | null = null;
  if (source === 'vocab.json + merges.txt') {
    const vocab = readJsonObject(join(src, 'vocab.json')) as Record<string, number>;
    tokenizerJson = clipTokenizerFromVocab(vocab, readFileSync(join(src, 'merges.txt'), 'utf8'), specials);
  } else if (source === 'spiece.model') {
    const extraIds = typeof tokenizerConfig.extra_ids === 'number' ? tokenizerConfig.extra_ids : 100;
    tokenizerJson = t5TokenizerFromSentencePiece(readSentencePiece(readFileSync(join(src, 'spiece.model'))), extraIds, specials);
  } else if (source === null) {
    throw new TokenizerError('tokenizer_missing', `${src} has no usable ${label} tokenizer: expected ${files}`);
  }

  await linkFolder(src, dst, stats, copy);
  if (tokenizerJson) await writeFileAtomic(join(dst, 'tokenizer.json'), `${JSON.stringify(tokenizerJson)}\n`);
  if (configChanged) await writeFileAtomic(join(dst, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  return { kind, source };
}

export interface TokenizerCheck extends TokenizerImport {
  maxLength: number;
  /** Ids of a short sample prompt, up to its EOS. */
  sample: number[];
  eosId: number;
  padId: number;
}

const SAMPLE_PROMPT = 'a photo of a cat';

/**
 * Loads a bundle tokenizer folder the way the pipeline does and checks FLUX's rules: exactly
 * `maxLength` ids, the prompt ends in EOS then padding, and an over-long prompt is truncated to
 * `maxLength` keeping its final EOS. A Qwen tokenizer is checked the way FLUX.2 uses it: the chat
 * text starts with its chat token, ends its turn, and is right-padded under a mask.
 */
export function checkTokenizer(dir: string, imported: TokenizerImport, maxLength: number): TokenizerCheck {
  let tokenizer: PromptTokenizer;
  try {
    tokenizer = PromptTokenizer.load(dir);
  } catch (error) {
    throw new TokenizerError('tokenizer_missing', `the ${TOKENIZER_SOURCES[imported.kind].label} tokenizer in ${dir} does not load: ${(error as Error).message}`, { cause: error });
  }
  if (imported.kind === 'qwen') return checkChatTokenizer(dir, tokenizer, imported, maxLength);
  const ids = Array.from(tokenizer.encode(SAMPLE_PROMPT, maxLength), Number);
  const end = ids.indexOf(tokenizer.eosId);
  const long = Array.from(tokenizer.encode(`${SAMPLE_PROMPT} `.repeat(maxLength), maxLength), Number);
  const problems: string[] = [];
  if (ids.length !== maxLength) problems.push(`encodes to ${ids.length} ids, expected ${maxLength}`);
  if (end < 1) problems.push(`the sample prompt has no EOS (${tokenizer.eosId})`);
  else if (ids.slice(end + 1).some((id) => id !== tokenizer.padId)) problems.push('ids after EOS are not all padding');
  if (long.length !== maxLength || long[maxLength - 1] !== tokenizer.eosId) problems.push('an over-long prompt is not truncated to end in EOS');
  if (problems.length) throw new TokenizerError('tokenizer_missing', `the ${imported.kind} tokenizer in ${dir}: ${problems.join('; ')}`);
  return { ...imported, maxLength, sample: ids.slice(0, end + 1), eosId: tokenizer.eosId, padId: tokenizer.padId };
}

function checkChatTokenizer(dir: string, tokenizer: PromptTokenizer, imported: TokenizerImport, maxLength: number): TokenizerCheck {
  const { ids, mask, length } = tokenizer.encodeMasked(qwen3ChatText(SAMPLE_PROMPT), maxLength);
  const sample = Array.from(ids.subarray(0, length), Number);
  const problems: string[] = [];
  if (sample[0] !== tokenizer.idOf(TOKENIZER_SOURCES.qwen.marker!)) problems.push(`the chat text does not start with ${TOKENIZER_SOURCES.qwen.marker}`);
  if (!sample.includes(tokenizer.eosId)) problems.push(`the user turn does not end in ${SPECIAL_DEFAULTS.qwen.eos_token} (${tokenizer.eosId})`);
  if (ids.subarray(length).some((id) => Number(id) !== tokenizer.padId) || mask.subarray(length).some((m) => m !== 0n)) problems.push('the padding is not the pad token under a zero mask');
  if (problems.length) throw new TokenizerError('tokenizer_missing', `the ${imported.kind} tokenizer in ${dir}: ${problems.join('; ')}`);
  return { ...imported, maxLength, sample, eosId: tokenizer.eosId, padId: tokenizer.padId };
}
