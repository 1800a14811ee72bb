/**
 * A component's weights as they will sit in memory, tallied from what a bundle or a published
 * checkpoint says about them. Pure: callers read headers or graphs and pass the numbers in.
 *
 * The rule the converted graphs follow (runtime/convert/source.ts): a float weight gets one Cast to
 * the graph's compute type, which onnxruntime folds into a copy of that type when the session is
 * created, so float weights cost `elements × bytes of the compute type` whatever their stored dtype.
 * Block-quantised weights (com.microsoft.MatMulNBits) stay as stored on every provider: their codes
 * cost their bytes, their per-block scales take the compute type (MatMulNBits takes them in A's type).
 *
 * Two roads lead here: a bundle's graphs (graph-weights.ts reads the initializers: float ones feeding
 * a Cast take the compute type, uint8/int8 ones such as MatMulNBits codes and packed zero points are
 * counted as stored), and published shapes with a stored format (quantizedWeights below, with
 * GGUF_BLOCK_FORMATS saying how each GGUF type is repacked), for the README's table before any file exists.
 */

/** What a component holds, grouped by stored format (a safetensors dtype or a GGUF/MatMulNBits type). */
export interface ComponentWeights {
  /** Float values (weights of any float dtype on disk, block scales): they take the compute type in memory. */
  floatElements: number;
  /** Bytes that sit in memory as stored whatever the compute type: quantised codes (MatMulNBits), packed zero points. */
  quantizedBytes: number;
  /** Bytes on disk per stored format, for display ({ BF16: …, Q4_0: … }). */
  stored: Readonly<Record<string, number>>;
}

export const NO_WEIGHTS: ComponentWeights = Object.freeze({ floatElements: 0, quantizedBytes: 0, stored: Object.freeze({}) });

/** Bytes per element of the float dtypes a weight may be stored in (safetensors and ONNX names). */
export const FLOAT_BYTES: Readonly<Record<string, number>> = Object.freeze({
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  float64: 8, float32: 4, float16: 2, bfloat16: 2, float8e4m3fn: 1, float8e5m2: 1,
});

/** The compute types a graph may have. */
export type Precision = 'float32' | 'float16';

export const PRECISION_BYTES: Readonly<Record<Precision, number>> = Object.freeze({ float32: 4, float16: 2 });

/** Bytes the weights take in memory when the graph computes in `precision`. */
export function weightBytesInMemory(w: ComponentWeights, precision: Precision): number {
  return w.floatElements * PRECISION_BYTES[precision] + w.quantizedBytes;
}

/** Sum of several components (CLIP + T5, the VAE's decoder + encoder). */
export function addWeights(...parts: readonly ComponentWeights[]): ComponentWeights {
  const stored: Record<string, number> = {};
  for (const p of parts) for (const [format, bytes] of Object.entries(p.stored)) stored[format] = (stored[format] ?? 0) + bytes;
  return {
    floatElements: parts.reduce((n, p) => n + p.floatElements, 0),
    quantizedBytes: parts.reduce((n, p) => n + p.quantizedBytes, 0),
    stored,
  };
}

/** Float tensors by shape and stored dtype (a safetensors header, published shapes). */
export function floatWeights(tensors: Iterable<{ shape: readonly number[]; dtype: string }>): ComponentWeights {
  let floatElements = 0;
  const stored: Record<string, number> = {};
  for (const t of tensors) {
    const bytes = FLOAT_BYTES[t.dtype];
    if (bytes === undefined) continue; // position ids and other integer buffers are not weights
    const n = elementsOf(t.shape);
    floatElements += n;
    stored[t.dtype] = (stored[t.dtype] ?? 0) + n * bytes;
  }
  return { floatElements, quantizedBytes: 0, stored };
}

export function elementsOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * How a GGUF block type sits in memory once repacked for com.microsoft.MatMulNBits (issue 17's
 * mapping): `bits` per code, `block` codes per scale, and whether each block also carries a float
 * zero point (Q4_1/Q4_K's minimum, the centred Q5_1/Q5_K form). Scales and float zero points have
 * the graph's compute type (MatMulNBits takes them in A's type); 8-bit codes with GGUF's symmetric
 * blocks use the default zero point and carry none. `ggufBits` is the file's own bits per weight.
 */
export interface BlockFormat {
  bits: 2 | 4 | 8;
  block: number;
  floatZeroPoint: boolean;
  ggufBits: number;
  /** Bits as stored (exact) or widened to the next width MatMulNBits has. */
  mapping: 'exact' | 'widened';
}

export const GGUF_BLOCK_FORMATS: Readonly<Record<string, BlockFormat>> = Object.freeze({
  Q8_0: { bits: 8, block: 32, floatZeroPoint: false, ggufBits: 8.5, mapping: 'exact' },
  Q6_K: { bits: 8, block: 16, floatZeroPoint: false, ggufBits: 6.5625, mapping: 'widened' },
  Q5_0: { bits: 8, block: 32, floatZeroPoint: false, ggufBits: 5.5, mapping: 'widened' },
  Q5_1: { bits: 8, block: 32, floatZeroPoint: true, ggufBits: 6, mapping: 'widened' },
  Q5_K: { bits: 8, block: 32, floatZeroPoint: true, ggufBits: 5.5, mapping: 'widened' },
  Q4_0: { bits: 4, block: 32, floatZeroPoint: false, ggufBits: 4.5, mapping: 'exact' },
  Q4_1: { bits: 4, block: 32, floatZeroPoint: true, ggufBits: 5, mapping: 'exact' },
  Q4_K: { bits: 4, block: 32, floatZeroPoint: true, ggufBits: 4.5, mapping: 'exact' },
  Q3_K: { bits: 4, block: 16, floatZeroPoint: false, ggufBits: 3.4375, mapping: 'widened' },
  Q2_K: { bits: 2, block: 16, floatZeroPoint: true, ggufBits: 2.625, mapping: 'exact' },
});

/**
 * `elements` weights in MatMulNBits form: the packed codes (bytes whatever the compute type) and the
 * per-block scales and float zero points (MatMulNBits takes them in A's type: the compute type).
 */
export function blockParts(format: BlockFormat, elements: number): { codeBytes: number; scaleElements: number } {
  const blocks = Math.ceil(elements / format.block);
  return { codeBytes: (elements * format.bits) / 8, scaleElements: blocks * (format.floatZeroPoint ? 2 : 1) };
}

/**
 * A FLUX-style checkpoint quantised the way city96's GGUF files are: every 2-D weight of a
 * quantisable layer in `format`, the rest (1-D biases and norm scales, and `keepFloat` layers:
 * FLUX's img_in, txt_in, the embedders and final_layer) left as `floatDtype`.
 */
export function quantizedWeights(
  tensors: Iterable<{ key: string; shape: readonly number[] }>,
  opts: { format: string; floatDtype: string; keepFloat: (key: string) => boolean },
): ComponentWeights {
  const block = GGUF_BLOCK_FORMATS[opts.format];
  if (!block) throw new Error(`unknown block format ${opts.format}; known: ${Object.keys(GGUF_BLOCK_FORMATS).join(', ')}`);
  const floatBytes = FLOAT_BYTES[opts.floatDtype];
  let floatElements = 0;
  let quantizedBytes = 0;
  let quantizedOnDisk = 0;
  let floatOnDisk = 0;
  for (const t of tensors) {
    const n = elementsOf(t.shape);
    if (t.shape.length === 2 && !opts.keepFloat(t.key) && t.shape[1] % block.block === 0) {
      const parts = blockParts(block, n);
      quantizedBytes += parts.codeBytes;
      floatElements += parts.scaleElements;
      quantizedOnDisk += (n * block.ggufBits) / 8;
    } else {
      floatElements += n;
      floatOnDisk += n * floatBytes;
    }
  }
  return { floatElements, quantizedBytes, stored: { [opts.format]: quantizedOnDisk, [opts.floatDtype]: floatOnDisk } };
}
