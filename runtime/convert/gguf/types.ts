/**
 * The GGML tensor types FLUX and T5 GGUF files use (city96's ComfyUI-GGUF conversions and
 * llama-quantize outputs), their block sizes (ggml's ggml-common.h), and how each one becomes the
 * weight of a com.microsoft.MatMulNBits node.
 *
 * MatMulNBits on onnxruntime 1.30's CPU provider takes 2-, 4- and 8-bit codes (3 and 5 are refused
 * at session creation) in blocks of 16–256 along K, one float scale per block, and zero points that
 * are packed uint8 codes or, for 2 and 4 bits only, floats (8 bits with float zero points fails at
 * run time). A GGUF block is already a run along K of one output row, so the mapping is per block:
 *
 * - exact: the same codes at the same width.
 * - widened: the codes move to the next width MatMulNBits has (5 → 8 bits, 3 → 4 bits), values
 *   unchanged; costs memory, not accuracy.
 * Types that store value = d·q − m with a float minimum (Q4_1, Q4_K, Q5_1, Q5_K, Q2_K) keep the
 * codes on the width's default zero point and add the rest, one float per block, by a small second
 * product (Σ of x over each block) · offsets: 8-bit takes no float zero point, and on the CPU a float
 * zero point is the slow path (measured 1.4–1.7× a float32 MatMul for Q4_1/Q4_K, against 0.65–1.39×
 * with offsets; bench/nbits-forms.ts). Q2_K keeps its float zero point: 2-bit blocks of 16 have no
 * int8 kernel either way.
 */

/** GGML type ids (ggml.h `enum ggml_type`). */
export const GGML_TYPE_IDS = Object.freeze({
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30,
});
export type GgmlType = keyof typeof GGML_TYPE_IDS;

export const GGML_TYPE_BY_ID: ReadonlyMap<number, GgmlType> = new Map(Object.entries(GGML_TYPE_IDS).map(([name, id]) => [id, name as GgmlType]));

/** Float types: used as stored (one Cast where the graph computes in another type). */
export const FLOAT_TYPES: ReadonlySet<GgmlType> = new Set(['F32', 'F16', 'BF16']);

export interface BlockFormat {
  /** Elements per block (along the row) and bytes per block. */
  elements: number;
  bytes: number;
}

export const BLOCK_FORMATS: Readonly<Record<GgmlType, BlockFormat>> = Object.freeze({
  F32: { elements: 1, bytes: 4 },
  F16: { elements: 1, bytes: 2 },
  BF16: { elements: 1, bytes: 2 },
  Q8_0: { elements: 32, bytes: 34 },
  Q4_0: { elements: 32, bytes: 18 },
  Q4_1: { elements: 32, bytes: 20 },
  Q5_0: { elements: 32, bytes: 22 },
  Q5_1: { elements: 32, bytes: 24 },
  Q2_K: { elements: 256, bytes: 84 },
  Q3_K: { elements: 256, bytes: 110 },
  Q4_K: { elements: 256, bytes: 144 },
  Q5_K: { elements: 256, bytes: 176 },
  Q6_K: { elements: 256, bytes: 210 },
});

export type QuantizedType = Exclude<GgmlType, 'F32' | 'F16' | 'BF16'>;

/** How one quantized type lands on MatMulNBits. */
export interface NBitsMapping {
  bits: 2 | 4 | 8;
  /** MatMulNBits block size: the GGUF block, or its sub-block (K-quants). */
  block: number;
  /** Zero point: the width's default (2^(bits−1)), a float per block, or offsets added by a second product. */
  zero: 'default' | 'float' | 'offsets';
  form: 'exact' | 'widened';
  note: string;
}

export const NBITS_MAPPINGS: Readonly<Record<QuantizedType, NBitsMapping>> = Object.freeze({
  Q8_0: { bits: 8, block: 32, zero: 'default', form: 'exact', note: 'int8 q → q + 128, zero point 128' },
  Q4_0: { bits: 4, block: 32, zero: 'default', form: 'exact', note: 'nibbles reordered (GGUF: j | j+16 per byte; MatMulNBits: 2i | 2i+1), zero point 8' },
  Q4_1: { bits: 4, block: 32, zero: 'offsets', form: 'exact', note: 'd·(q − 8) + (8d + m): the minimum as a per-block offset' },
  Q5_0: { bits: 8, block: 32, zero: 'default', form: 'widened', note: '5-bit q − 16 → 8-bit q + 112, zero point 128' },
  Q5_1: { bits: 8, block: 32, zero: 'offsets', form: 'widened', note: '5-bit widened to 8; d·(q − 16) + (m + 16d): the minimum as a per-block offset' },
  Q2_K: { bits: 2, block: 16, zero: 'float', form: 'exact', note: 'sub-blocks of 16: scale d·sc, float zero point dmin·m / (d·sc)' },
  Q3_K: { bits: 4, block: 16, zero: 'default', form: 'widened', note: '3-bit signed q (−4…3) → 4-bit q + 8, scale d·(sc − 32)' },
  Q4_K: { bits: 4, block: 32, zero: 'offsets', form: 'exact', note: 'sub-blocks of 32: scale d·sc, the minimum dmin·m as a per-block offset' },
  Q5_K: { bits: 8, block: 32, zero: 'offsets', form: 'widened', note: '5-bit widened to 8 (sub-blocks of 32); the minimum as a per-block offset' },
  Q6_K: { bits: 8, block: 16, zero: 'default', form: 'exact', note: 'sub-blocks of 16: 6-bit q − 32 → 8-bit q + 96, scale d·sc' },
});

/**
 * MatMulNBits accuracy_level for `bits`-wide blocks, which only the CPU reads: 4 (int8 activations)
 * for 8 bits, where level 1 took 1.6–3× as long; 1 (float32 activations) for 2 and 4 bits, where
 * onnxruntime's int8 packing of 4-bit blocks takes about 0.4 bytes more per weight (1.48 against
 * 1.00 GB after creating bench/gguf.ts's Q4_0 session) for a speed gain that did not hold up
 * across runs (bench/nbits-forms.ts).
 */
export function accuracyLevelFor(bits: 2 | 4 | 8): number {
  return bits === 8 ? 4 : 1;
}

/** Bytes of `elements` values (one row or a whole tensor) stored as `type`. */
export function storedBytes(type: GgmlType, elements: number): number {
  const { elements: per, bytes } = BLOCK_FORMATS[type];
  return (elements / per) * bytes;
}

/** Bytes MatMulNBits holds for a [N, K] weight of `type`: codes, float32 scales, float zero points or offsets. */
export function packedBytes(mapping: Pick<NBitsMapping, 'bits' | 'block' | 'zero'>, n: number, k: number): number {
  const blocks = n * (k / mapping.block);
  return (n * k * mapping.bits) / 8 + blocks * 4 + (mapping.zero === 'default' ? 0 : blocks * 4);
}
