/**
 * GGUF headers (ggml's file format: metadata, then tensor infos, then aligned tensor data), read
 * with @huggingface/gguf; only the header is read. Every tensor's type, shape and byte range is
 * checked against the file, so a truncated or corrupt file is refused here, naming the file and
 * what is wrong, before anything is converted.
 *
 * Shapes are given in PyTorch order (GGUF lists ne[0], the contiguous axis, first). T5 encoders in
 * llama.cpp's naming (city96's t5-v1_1-xxl-encoder-*.gguf) get Hugging Face T5EncoderModel keys,
 * the same renaming ComfyUI-GGUF's loader applies.
 */
import { statSync } from 'node:fs';
import { gguf } from '@huggingface/gguf';
import { BLOCK_FORMATS, FLOAT_TYPES, GGML_TYPE_BY_ID, storedBytes, type GgmlType } from './types.ts';

export const GGUF_SUFFIX = '.gguf';

export interface GgufTensor {
  /** Key after renaming (Hugging Face names for T5); `stored` is the name in the file. */
  readonly key: string;
  readonly stored: string;
  readonly type: GgmlType;
  /** PyTorch order: [out, in] for a Linear weight. */
  readonly shape: readonly number[];
  readonly file: string;
  /** Absolute byte offset in `file`. */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface GgufHeader {
  readonly file: string;
  readonly fileSize: number;
  /** general.architecture (flux, t5encoder, …), or null when the file has none (sd.cpp files). */
  readonly architecture: string | null;
  readonly tensors: ReadonlyMap<string, GgufTensor>;
}

export class GgufError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'GgufError';
  }
}

/** llama.cpp's T5 names → Hugging Face T5EncoderModel names (as ComfyUI-GGUF's loader maps them). */
const T5_RENAMES: readonly (readonly [string, string])[] = [
  ['enc.', 'encoder.'],
  ['.blk.', '.block.'],
  ['token_embd', 'shared'],
  ['output_norm', 'final_layer_norm'],
  ['attn_q', 'layer.0.SelfAttention.q'],
  ['attn_k', 'layer.0.SelfAttention.k'],
  ['attn_v', 'layer.0.SelfAttention.v'],
  ['attn_o', 'layer.0.SelfAttention.o'],
  ['attn_norm', 'layer.0.layer_norm'],
  ['attn_rel_b', 'layer.0.SelfAttention.relative_attention_bias'],
  ['ffn_up', 'layer.1.DenseReluDense.wi_1'],
  ['ffn_down', 'layer.1.DenseReluDense.wo'],
  ['ffn_gate', 'layer.1.DenseReluDense.wi_0'],
  ['ffn_norm', 'layer.1.layer_norm'],
];

const T5_ARCHITECTURES = new Set(['t5', 't5encoder']);

export function renameT5(key: string): string {
  return T5_RENAMES.reduce((k, [from, to]) => k.replace(from, to), key);
}

/** Reads and checks the header of one GGUF file. */
export async function readGgufHeader(file: string): Promise<GgufHeader> {
  const fileSize = statSync(file).size;
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf(file, { allowLocalFile: true });
  } catch (error) {
    const detail = (error as Error).message;
    const truncated = error instanceof RangeError || /outside the bounds|out of range/i.test(detail);
    throw new GgufError(file, truncated ? `the header ends past the end of the file (${fileSize} bytes): the file is truncated` : `not a GGUF file, or corrupt (${detail})`);
  }
  const architecture = typeof parsed.metadata['general.architecture'] === 'string' ? parsed.metadata['general.architecture'] : null;
  const rename = architecture && T5_ARCHITECTURES.has(architecture) ? renameT5 : (key: string) => key;
  const dataStart = Number(parsed.tensorDataOffset);
  const tensors = new Map<string, GgufTensor>();
  for (const info of parsed.tensorInfos) {
    const type = GGML_TYPE_BY_ID.get(info.dtype);
    if (!type) {
      throw new GgufError(file, `tensor ${info.name} has GGML type ${info.dtype}, which dype convert does not read (it reads ${[...GGML_TYPE_BY_ID.values()].join(', ')})`);
    }
    const shape = info.shape.map(Number).reverse();
    const elements = shape.reduce((a, b) => a * b, 1);
    const rowLength = shape[shape.length - 1] ?? 1;
    if (rowLength % BLOCK_FORMATS[type].elements !== 0) {
      throw new GgufError(file, `tensor ${info.name}: rows of ${rowLength} do not hold whole ${type} blocks of ${BLOCK_FORMATS[type].elements}: the file is corrupt`);
    }
    const byteOffset = dataStart + Number(info.offset);
    const byteLength = storedBytes(type, elements);
    if (byteOffset + byteLength > fileSize) {
      throw new GgufError(file, `tensor ${info.name} (${type} [${shape.join(', ')}]) ends at byte ${byteOffset + byteLength}, past the end of the file (${fileSize} bytes): the file is truncated`);
    }
    const key = rename(info.name);
    if (tensors.has(key)) throw new GgufError(file, `tensor ${key} appears twice: the file is corrupt`);
    tensors.set(key, { key, stored: info.name, type, shape, file, byteOffset, byteLength });
  }
  return { file, fileSize, architecture, tensors };
}

/**
 * What --scan and the report call a GGUF file: its block types by the share of weights they hold,
 * largest first (a Q4_K_S file is mostly Q4_K with some Q5_K); the float type when nothing is quantized.
 */
export function quantizationLabel(tensors: Iterable<{ type: GgmlType; shape: readonly number[]; byteLength: number }>): string {
  const bytes = new Map<GgmlType, number>();
  for (const t of tensors) if (t.shape.length >= 2) bytes.set(t.type, (bytes.get(t.type) ?? 0) + t.byteLength);
  const rank = (types: GgmlType[]) => types.sort((x, y) => bytes.get(y)! - bytes.get(x)!);
  const quantized = rank([...bytes.keys()].filter((t) => !FLOAT_TYPES.has(t)));
  const ranked = quantized.length ? quantized : rank([...bytes.keys()]);
  return ranked.length > 1 ? `${ranked[0]} (+${ranked.slice(1).join(', ')})` : (ranked[0] ?? 'none');
}
