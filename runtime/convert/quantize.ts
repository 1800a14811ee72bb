/**
 * `dype convert --quantize q8|q4`: float checkpoints (F32, BF16, F16, F8_E4M3 with or without
 * ComfyUI's per-tensor scale) block-quantized while converting, the way GGUF's Q8_0 and Q4_0 do it
 * (./gguf/repack.ts quantizeBlocks), into the model folder's weights file as MatMulNBits blocks.
 *
 * Left in their stored type, as city96's FLUX GGUF files leave them (ComfyUI-GGUF tools/lcpp.patch):
 * the input embedders (img_in, txt_in), the timestep/guidance/pooled-text embedders and final_layer.
 * They are a small share of the weights (about 0.3% of FLUX.1) but sit where an error is not
 * averaged away: img_in and final_layer map every latent channel in and out, and the embedders' one
 * vector modulates every block. Everything else that is a Linear weight with whole blocks is quantized.
 * The same holds for the other families' own names: FLUX.2 [klein] uses BFL's (img_in, txt_in,
 * time_in, final_layer), Z-Image has x_embedder (the latent patches in), cap_embedder (the caption
 * in), t_embedder (the timestep vector every modulation reads) and final_layer.
 */
import { Float16Array } from '@petamoriken/float16';
import { readRange } from '../files/range.ts';
import type { GraphBuilder } from '../onnx/builder.ts';
import { packNBits, quantizeBlocks } from './gguf/repack.ts';
import type { PackedWeightsFile } from './packed-weights.ts';
import type { StoredTensor } from './safetensors.ts';
import { fp8ScaleKey, type SafetensorsWeightSource } from './source.ts';
import type { PackedLinear, WeightSource } from './weights.ts';

export const QUANTIZE_MODES = ['q8', 'q4'] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];

export const QUANTIZE_BITS: Readonly<Record<QuantizeMode, 4 | 8>> = { q8: 8, q4: 4 };
export const QUANTIZE_BLOCK = 32;

/** Key prefixes kept unquantized: BFL names (city96's list), their diffusers names and Z-Image's. */
const KEPT_PREFIXES = [
  'img_in.', 'txt_in.', 'time_in.', 'vector_in.', 'guidance_in.', 'final_layer.',
  'x_embedder.', 'context_embedder.', 'time_text_embed.', 'norm_out.', 'proj_out.',
  'cap_embedder.', 't_embedder.',
];

export function keepsStoredType(key: string): boolean {
  return KEPT_PREFIXES.some((p) => key.startsWith(p));
}

/** float8 e4m3fn byte → value (0x7f/0xff NaN). */
const E4M3 = Float32Array.from({ length: 256 }, (_, byte) => {
  const sign = byte & 0x80 ? -1 : 1;
  const exp = (byte >> 3) & 0xf;
  const man = byte & 7;
  if (exp === 15 && man === 7) return NaN;
  return exp === 0 ? sign * (man / 8) * 2 ** -6 : sign * (1 + man / 8) * 2 ** (exp - 7);
});

/** A float tensor's stored bytes → float32 values (exact widening). */
export function decodeFloats(t: Pick<StoredTensor, 'key' | 'dtype'>, bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes); // aligned for the typed views
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(copy.buffer);
    case 'F16':
      return Float32Array.from(new Float16Array(copy.buffer));
    case 'BF16': {
      const bits = new Uint16Array(copy.buffer);
      const out = new Uint32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F8_E4M3':
      return Float32Array.from(copy, (b) => E4M3[b]);
    default:
      throw new Error(`${t.key}: ${t.dtype} is not a float type`);
  }
}

function readFloats(t: StoredTensor): Float32Array {
  return decodeFloats(t, readRange(t.file, t.byteOffset, t.byteLength, t.key));
}

/** How many Linear weights were quantized, their stored bytes and the bytes they take now. */
export interface QuantizeCounts {
  tensors: number;
  storedBytes: number;
  packedBytes: number;
}

/** The checkpoint's tensors as stored, but eligible Linear weights quantized into blocks. */
export class QuantizingWeightSource implements WeightSource {
  readonly counts: QuantizeCounts = { tensors: 0, storedBytes: 0, packedBytes: 0 };
  private readonly packed = new Map<string, PackedLinear>();

  constructor(
    private readonly inner: SafetensorsWeightSource,
    private readonly builder: GraphBuilder,
    private readonly out: PackedWeightsFile,
    private readonly mode: QuantizeMode,
    private readonly accuracyLevel?: number,
  ) {}

  get origin(): string {
    return this.inner.origin;
  }

  has(key: string): boolean {
    return this.inner.has(key);
  }

  tensor(key: string): StoredTensor {
    return this.inner.tensor(key);
  }

  shape(key: string): readonly number[] {
    return this.inner.shape(key);
  }

  keys(prefix?: string): string[] {
    return this.inner.keys(prefix);
  }

  value(key: string): string {
    return this.inner.value(key);
  }

  packedLinear(key: string): PackedLinear | null {
    const cached = this.packed.get(key);
    if (cached) return cached;
    const t = this.inner.tensor(key);
    if (keepsStoredType(key) || t.shape.length !== 2 || t.shape[1] % QUANTIZE_BLOCK !== 0) return null;
    const values = readFloats(t);
    const scaleKey = fp8ScaleKey(this.inner, key);
    if (scaleKey) {
      const scale = readFloats(this.inner.tensor(scaleKey))[0];
      for (let i = 0; i < values.length; i++) values[i] *= scale;
    }
    const before = this.out.bytes;
    const [n, k] = t.shape;
    const linear = this.out.linear(this.builder, key, packNBits(quantizeBlocks(values, n, k, QUANTIZE_BITS[this.mode], QUANTIZE_BLOCK)), this.accuracyLevel);
    this.counts.tensors++;
    this.counts.storedBytes += t.byteLength;
    this.counts.packedBytes += this.out.bytes - before;
    this.packed.set(key, linear);
    return linear;
  }
}
