/**
 * The demo bundle's two tokenizers, as Hugging Face `tokenizer.json` + `tokenizer_config.json`
 * objects: a CLIP-like byte-level BPE and a T5-like Unigram. Pure data, deterministic.
 */

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';
export const T5_PAD = '<pad>';
export const T5_EOS = '</s>';
export const T5_UNK = '<unk>';
const METASPACE = '\u2581';

/** GPT-2's bytes_to_unicode(): byte value → printable symbol, in the canonical order. */
export function byteLevelSymbols(): string[] {
  const bs: number[] = [];
  for (let c = 0x21; c <= 0x7e; c++) bs.push(c);
  for (let c = 0xa1; c <= 0xac; c++) bs.push(c);
  for (let c = 0xae; c <= 0xff; c++) bs.push(c);
  const cs = [...bs];
  let n = 0;
  for (let byte = 0; byte < 256; byte++) {
    if (!bs.includes(byte)) {
      bs.push(byte);
      cs.push(256 + n++);
    }
  }
  return cs.map((c) => String.fromCodePoint(c));
}

/** Common English pairs ('Ġ' = a leading space); each merge only uses symbols made earlier. */
const CLIP_MERGES: readonly (readonly [string, string])[] = [
  ['Ġ', 't'], ['Ġ', 'a'], ['h', 'e'], ['i', 'n'], ['r', 'e'], ['o', 'n'], ['Ġt', 'he'], ['e', 'r'], ['t', 'he'],
  ['Ġ', 's'], ['a', 't'], ['Ġ', 'w'], ['Ġ', 'o'], ['e', 'n'], ['Ġ', 'c'], ['i', 't'], ['i', 's'],
  ['a', 'n'], ['o', 'r'], ['e', 's'], ['Ġ', 'b'], ['e', 'd'], ['Ġ', 'f'], ['in', 'g'], ['Ġ', 'p'],
  ['o', 'u'], ['Ġa', 'n'], ['a', 'l'], ['a', 'r'], ['Ġt', 'o'], ['Ġ', 'm'], ['Ġo', 'f'], ['Ġ', 'in'],
  ['Ġ', 'd'], ['Ġ', 'h'], ['Ġan', 'd'], ['i', 'c'], ['a', 's'], ['l', 'e'], ['Ġ', 'l'], ['o', 'm'],
  ['l', 'l'], ['en', 't'], ['Ġ', 're'], ['s', 't'], ['c', 'o'], ['l', 'o'], ['Ġ', 'e'], ['Ġ', 'n'],
  ['o', 'w'], ['Ġ', 'g'], ['Ġ', 'r'], ['Ġ', 'y'], ['u', 'e'], ['Ġb', 'l'], ['Ġbl', 'ue'], ['Ġ', 'u'],
  ['Ġ', 'i'], ['it', 'h'], ['Ġw', 'ith'], ['k', 'y'], ['Ġs', 'ky'], ['u', 'n'], ['Ġs', 'un'], ['Ġc', 'at'],
];

function clipVocab(): { vocab: Record<string, number>; merges: string[]; size: number } {
  const symbols = byteLevelSymbols();
  const ids = new Map<string, number>(symbols.map((s, i) => [s, i]));
  const merges: string[] = [];
  for (const [a, b] of CLIP_MERGES) {
    // Well-founded: a merge may only use symbols that exist already, and makes a new one.
    if (!ids.has(a) || !ids.has(b) || ids.has(a + b)) throw new Error(`bad demo merge ${a} ${b}`);
    merges.push(`${a} ${b}`);
    ids.set(a + b, ids.size);
  }
  ids.set(CLIP_BOS, ids.size);
  ids.set(CLIP_EOS, ids.size); // EOS has the highest id: CLIP pools at argmax(input_ids).
  return { vocab: Object.fromEntries(ids), merges, size: ids.size };
}

const CLIP = clipVocab();
export const CLIP_VOCAB_SIZE = CLIP.size;
export const CLIP_BOS_ID = CLIP.vocab[CLIP_BOS];
export const CLIP_EOS_ID = CLIP.vocab[CLIP_EOS];

function addedToken(id: number, content: string, normalized = false) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true };
}

function specialTokenEntry(token: string, id: number) {
  return { id: token, ids: [id], tokens: [token] };
}

export function clipTokenizerJson(): object {
  const specials = [
    [CLIP_BOS, CLIP_BOS_ID],
    [CLIP_EOS, CLIP_EOS_ID],
  ] as const;
  const st = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map(([t, id]) => addedToken(id, t)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [st(CLIP_BOS), { Sequence: { id: 'A', type_id: 0 } }, st(CLIP_EOS)],
      pair: [st(CLIP_BOS), { Sequence: { id: 'A', type_id: 0 } }, st(CLIP_EOS), { Sequence: { id: 'B', type_id: 0 } }, st(CLIP_EOS)],
      special_tokens: Object.fromEntries(specials.map(([t, id]) => [t, specialTokenEntry(t, id)])),
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_EOS,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: CLIP.vocab,
      merges: CLIP.merges,
    },
  };
}

export function clipTokenizerConfig(): object {
  return {
    tokenizer_class: 'CLIPTokenizer',
    model_max_length: 77,
    bos_token: CLIP_BOS,
    eos_token: CLIP_EOS,
    pad_token: CLIP_EOS,
    unk_token: CLIP_EOS,
    do_lower_case: true,
    clean_up_tokenization_spaces: true,
    errors: 'replace',
    add_prefix_space: false,
    added_tokens_decoder: {
      [String(CLIP_BOS_ID)]: addedToken(CLIP_BOS_ID, CLIP_BOS),
      [String(CLIP_EOS_ID)]: addedToken(CLIP_EOS_ID, CLIP_EOS),
    },
  };
}

// ---- T5-like Unigram.

const T5_WORDS = [
  'the', 'a', 'of', 'and', 'in', 'with', 'on', 'at', 'to', 'an', 'is', 'sky', 'sun', 'sea', 'red', 'blue',
  'green', 'light', 'city', 'cat', 'dog', 'tree', 'mountain', 'photo', 'painting', 'portrait', 'colorful', 'abstract',
];
const T5_CHARS = [
  ...'abcdefghijklmnopqrstuvwxyz',
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  ...'0123456789',
  ...'.,!?\'"-:;()/&',
];

/** [piece, log-prob score] in id order: specials, ▁, ▁words, ▁letters, single characters. */
function t5Vocab(): [string, number][] {
  const pieces: [string, number][] = [
    [T5_PAD, 0],
    [T5_EOS, 0],
    [T5_UNK, 0],
    [METASPACE, -3],
  ];
  const seen = new Set(pieces.map(([p]) => p));
  const push = (piece: string, score: number) => {
    if (seen.has(piece)) return;
    seen.add(piece);
    pieces.push([piece, score]);
  };
  // Scores are exact binary fractions so the JSON is byte-stable: words beat their spellings.
  T5_WORDS.forEach((w, i) => push(METASPACE + w, -4 - i / 64));
  [...'abcdefghijklmnopqrstuvwxyz'].forEach((c, i) => push(METASPACE + c, -6 - i / 64));
  T5_CHARS.forEach((c, i) => push(c, -7 - i / 128));
  return pieces;
}

const T5_VOCAB = t5Vocab();
export const T5_VOCAB_SIZE = T5_VOCAB.length;
export const T5_EOS_ID = 1;

export function t5TokenizerJson(): object {
  const specials = [
    [T5_PAD, 0],
    [T5_EOS, 1],
    [T5_UNK, 2],
  ] as const;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map(([t, id]) => addedToken(id, t)),
    normalizer: { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
    pre_tokenizer: { type: 'Metaspace', replacement: METASPACE, prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: T5_EOS, type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: T5_EOS, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: T5_EOS, type_id: 0 } },
      ],
      special_tokens: { [T5_EOS]: specialTokenEntry(T5_EOS, T5_EOS_ID) },
    },
    decoder: { type: 'Metaspace', replacement: METASPACE, prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab: T5_VOCAB, byte_fallback: false },
  };
}

export function t5TokenizerConfig(): object {
  return {
    tokenizer_class: 'T5Tokenizer',
    model_max_length: 64,
    eos_token: T5_EOS,
    pad_token: T5_PAD,
    unk_token: T5_UNK,
    extra_ids: 0,
    additional_special_tokens: [],
    legacy: false,
    clean_up_tokenization_spaces: true,
    added_tokens_decoder: Object.fromEntries(
      [
        [T5_PAD, 0],
        [T5_EOS, 1],
        [T5_UNK, 2],
      ].map(([t, id]) => [String(id), addedToken(id as number, t as string)]),
    ),
  };
}
