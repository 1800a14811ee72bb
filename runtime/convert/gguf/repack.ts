/**
 * GGUF blocks → com.microsoft.MatMulNBits weights, and block quantization of float weights
 * (`dype convert --quantize`). Pure functions of bytes and numbers; no I/O.
 *
 * Block layouts follow ggml's ggml-common.h and dequantize_row_* in ggml-quants.c (see the table in
 * ./types.ts). Each GGUF block is read into integer codes of the MatMulNBits width plus, per
 * MatMulNBits block, a float scale and a float zero point or additive offset, so that
 * value = scale · (code − zero) + offset equals ggml's dequantized value.
 */
import { Float16Array } from '@petamoriken/float16';
import { BLOCK_FORMATS, NBITS_MAPPINGS, type QuantizedType } from './types.ts';

/** Codes and per-block affine of a [rows, cols] weight, blocks running along cols (K). */
export interface UnpackedBlocks {
  bits: 2 | 4 | 8;
  block: number;
  rows: number;
  cols: number;
  /** One code per element, row-major, each below 2^bits. */
  codes: Uint8Array;
  /** One per block, row-major [rows, cols / block]. */
  scales: Float32Array;
  /** Float zero points (2- and 4-bit only); absent: the default 2^(bits−1). */
  zeros?: Float32Array;
  /** Added to every value of the block (8-bit types with a minimum). */
  offsets?: Float32Array;
}

/** MatMulNBits' inputs: B [N, blocks, block·bits/8], scales [N·blocks], zero points [N·blocks]; offsets [N, blocks]. */
export interface NBitsWeights {
  bits: 2 | 4 | 8;
  block: number;
  n: number;
  k: number;
  b: Uint8Array;
  scales: Float32Array;
  zeros?: Float32Array;
  offsets?: Float32Array;
}

export class GgufBlockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgufBlockError';
  }
}

/** Every float16 bit pattern's value: one table lookup per block scale (the polyfill's getFloat16 is ~100× slower). */
const HALF = new Float32Array(new Float16Array(Uint16Array.from({ length: 65536 }, (_, i) => i).buffer));
const f16 = (bytes: Uint8Array, at: number) => HALF[bytes[at] | (bytes[at + 1] << 8)];
const int8 = (byte: number) => (byte << 24) >> 24;

/**
 * A block whose values are step·q − minimum in the offset form: the codes keep the width's default
 * zero point, which stands for `centre` in the GGUF codes (8 for 4 bits, 16 for 5 bits widened to 8),
 * so value = step·(code − zero) + (centre·step − minimum).
 */
function minimumOffset(u: UnpackedBlocks, group: number, step: number, minimum: number, centre: number): void {
  u.scales[group] = step;
  u.offsets![group] = centre * step - minimum;
}

/**
 * A block whose values are step·q − minimum in the float zero-point form: zero = minimum / step. A
 * block of one value (step 0) cannot take a zero point, so its codes become 1 and its scale the value.
 */
function affineZero(u: UnpackedBlocks, group: number, step: number, minimum: number): void {
  if (step !== 0) {
    u.scales[group] = step;
    u.zeros![group] = minimum / step;
    return;
  }
  u.codes.fill(1, group * u.block, (group + 1) * u.block);
  u.scales[group] = -minimum;
  u.zeros![group] = 0;
}

/** ggml's get_scale_min_k4: the j-th 6-bit scale and minimum of a Q4_K/Q5_K super-block. */
function scaleMinK4(bytes: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [bytes[at + j] & 63, bytes[at + j + 4] & 63];
  return [(bytes[at + j + 4] & 0xf) | ((bytes[at + j - 4] >> 6) << 4), (bytes[at + j + 4] >> 4) | ((bytes[at + j] >> 6) << 4)];
}

/** Q3_K's j-th 6-bit scale (stored +32) from its 12 packed bytes. */
function scaleQ3K(bytes: Uint8Array, at: number, j: number): number {
  const low = j < 8 ? bytes[at + j] & 0xf : bytes[at + j - 8] >> 4;
  return low | (((bytes[at + 8 + (j % 4)] >> (2 * Math.floor(j / 4))) & 3) << 4);
}

/** Reads every block of a [rows, cols] GGUF tensor into codes and per-block affine. */
export function unpackGguf(type: QuantizedType, bytes: Uint8Array, rows: number, cols: number): UnpackedBlocks {
  const format = BLOCK_FORMATS[type];
  const mapping = NBITS_MAPPINGS[type];
  if (cols % format.elements !== 0) throw new GgufBlockError(`${type} rows hold whole blocks of ${format.elements}; a row of ${cols} does not`);
  const count = rows * cols;
  if (bytes.length !== (count / format.elements) * format.bytes) {
    throw new GgufBlockError(`${type} [${rows}, ${cols}] takes ${(count / format.elements) * format.bytes} bytes, not ${bytes.length}`);
  }
  const groups = count / mapping.block;
  const u: UnpackedBlocks = { bits: mapping.bits, block: mapping.block, rows, cols, codes: new Uint8Array(count), scales: new Float32Array(groups) };
  if (mapping.zero === 'float') u.zeros = new Float32Array(groups);
  if (mapping.zero === 'offsets') u.offsets = new Float32Array(groups);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { codes, scales } = u;
  const blocks = count / format.elements;
  for (let i = 0; i < blocks; i++) {
    const at = i * format.bytes;
    const e0 = i * format.elements; // first element of the block
    const g0 = e0 / mapping.block; // first MatMulNBits block
    switch (type) {
      case 'Q8_0': {
        scales[g0] = f16(bytes, at);
        for (let j = 0; j < 32; j++) codes[e0 + j] = (bytes[at + 2 + j] + 128) & 0xff; // int8 q + 128
        break;
      }
      case 'Q4_0':
      case 'Q4_1': {
        const qs = at + (type === 'Q4_0' ? 2 : 4);
        for (let j = 0; j < 16; j++) {
          codes[e0 + j] = bytes[qs + j] & 0xf;
          codes[e0 + j + 16] = bytes[qs + j] >> 4;
        }
        if (type === 'Q4_0') scales[g0] = f16(bytes, at);
        else minimumOffset(u, g0, f16(bytes, at), -f16(bytes, at + 2), 8);
        break;
      }
      case 'Q5_0':
      case 'Q5_1': {
        const withMin = type === 'Q5_1';
        const qhAt = at + (withMin ? 4 : 2);
        const qh = view.getUint32(qhAt, true);
        for (let j = 0; j < 16; j++) {
          const lo = bytes[qhAt + 4 + j];
          codes[e0 + j] = ((lo & 0xf) | (((qh >> j) << 4) & 0x10)) + 112;
          codes[e0 + j + 16] = ((lo >> 4) | ((qh >> (j + 12)) & 0x10)) + 112;
        }
        const d = f16(bytes, at);
        if (withMin) minimumOffset(u, g0, d, -f16(bytes, at + 2), 16);
        else scales[g0] = d;
        break;
      }
      case 'Q2_K': {
        const d = f16(bytes, at + 80);
        const dmin = f16(bytes, at + 82);
        for (let e = 0; e < 256; e++) {
          const half = e >> 7;
          const r = e & 127;
          codes[e0 + e] = (bytes[at + 16 + 32 * half + (r & 31)] >> (2 * (r >> 5))) & 3;
        }
        for (let s = 0; s < 16; s++) {
          const sc = bytes[at + s];
          affineZero(u, g0 + s, d * (sc & 0xf), dmin * (sc >> 4));
        }
        break;
      }
      case 'Q3_K': {
        const d = f16(bytes, at + 108);
        for (let e = 0; e < 256; e++) {
          const half = e >> 7;
          const r = e & 127;
          const l = r & 31;
          const low = (bytes[at + 32 + 32 * half + l] >> (2 * (r >> 5))) & 3;
          const high = (bytes[at + l] >> (4 * half + (r >> 5))) & 1;
          codes[e0 + e] = low + 4 * high + 4; // signed q3 (low + 4·high − 4) + 8
        }
        for (let s = 0; s < 16; s++) scales[g0 + s] = d * (scaleQ3K(bytes, at + 96, s) - 32);
        break;
      }
      case 'Q4_K':
      case 'Q5_K': {
        const wide = type === 'Q5_K';
        const d = f16(bytes, at);
        const dmin = f16(bytes, at + 2);
        const qs = at + (wide ? 48 : 16);
        for (let e = 0; e < 256; e++) {
          const chunk = e >> 6;
          const high = (e >> 5) & 1;
          const l = e & 31;
          let q = (bytes[qs + 32 * chunk + l] >> (4 * high)) & 0xf;
          if (wide) q += ((bytes[at + 16 + l] >> (2 * chunk + high)) & 1) * 16 + 112;
          codes[e0 + e] = q;
        }
        for (let s = 0; s < 8; s++) {
          const [sc, m] = scaleMinK4(bytes, at + 4, s);
          const step = Math.fround(d * sc);
          const minimum = Math.fround(dmin * m);
          minimumOffset(u, g0 + s, step, minimum, wide ? 16 : 8);
        }
        break;
      }
      case 'Q6_K': {
        const d = f16(bytes, at + 208);
        for (let e = 0; e < 256; e++) {
          const half = e >> 7;
          const quarter = (e & 127) >> 5;
          const l = e & 31;
          const low = (bytes[at + 64 * half + l + 32 * (quarter & 1)] >> (4 * (quarter >> 1))) & 0xf;
          const high = (bytes[at + 128 + 32 * half + l] >> (2 * quarter)) & 3;
          codes[e0 + e] = (low | (high << 4)) + 96; // q6 − 32 + 128
        }
        for (let s = 0; s < 16; s++) scales[g0 + s] = d * int8(bytes[at + 192 + s]);
        break;
      }
    }
  }
  return u;
}

/**
 * Symmetric block quantization of float weights [rows, cols] (`dype convert --quantize`), in
 * blocks of 32 along cols as GGUF's Q8_0 and Q4_0 do: scale = the block's largest magnitude over
 * 127 (8 bits), or its signed extreme over −8 (4 bits, so the extreme lands on code 0 and the
 * other side keeps 7 steps); codes round to nearest around the default zero point.
 */
export function quantizeBlocks(values: Float32Array, rows: number, cols: number, bits: 4 | 8, block = 32): UnpackedBlocks {
  if (cols % block !== 0) throw new GgufBlockError(`a row of ${cols} does not split into blocks of ${block}`);
  const groups = (rows * cols) / block;
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(groups);
  const zero = 1 << (bits - 1);
  const top = (1 << bits) - 1;
  for (let g = 0; g < groups; g++) {
    const start = g * block;
    let extreme = 0;
    for (let j = start; j < start + block; j++) if (Math.abs(values[j]) > Math.abs(extreme)) extreme = values[j];
    const scale = Math.fround(bits === 8 ? Math.abs(extreme) / 127 : extreme / -8);
    scales[g] = scale;
    const inverse = scale === 0 ? 0 : 1 / scale;
    for (let j = start; j < start + block; j++) codes[j] = Math.min(top, Math.max(0, Math.round(values[j] * inverse) + zero));
  }
  return { bits, block, rows, cols, codes, scales };
}

/** The float values the blocks stand for: scale · (code − zero) + offset. */
export function dequantizeBlocks(u: UnpackedBlocks): Float32Array {
  const out = new Float32Array(u.codes.length);
  const zero = 1 << (u.bits - 1);
  for (let g = 0; g < u.scales.length; g++) {
    const z = u.zeros ? u.zeros[g] : zero;
    const offset = u.offsets ? u.offsets[g] : 0;
    for (let j = g * u.block; j < (g + 1) * u.block; j++) out[j] = (u.codes[j] - z) * u.scales[g] + offset;
  }
  return out;
}

/** Packs codes the way MatMulNBits reads them: element 2i in the low nibble of byte i (4 bits), 4i in the low bits (2 bits). */
export function packNBits(u: UnpackedBlocks): NBitsWeights {
  const perByte = 8 / u.bits;
  const b = new Uint8Array(u.codes.length / perByte);
  const c = u.codes;
  if (u.bits === 8) b.set(c);
  else if (u.bits === 4) {
    for (let i = 0; i < b.length; i++) b[i] = c[2 * i] | (c[2 * i + 1] << 4);
  } else {
    for (let i = 0; i < b.length; i++) {
      let byte = 0;
      for (let p = 0; p < perByte; p++) byte |= u.codes[i * perByte + p] << (p * u.bits);
      b[i] = byte;
    }
  }
  return { bits: u.bits, block: u.block, n: u.rows, k: u.cols, b, scales: u.scales, zeros: u.zeros, offsets: u.offsets };
}
