"""
The project's own GGUF reference in numpy: a GGUF v3 writer, simple block quantizers, and
dequantizers written from ggml's `src/ggml-common.h` (block structs) and `src/ggml-quants.c`
(`dequantize_row_*`). The quantizers only need to produce *valid* blocks (round to nearest with the
block's range); the converted graph is compared with the dequantized values, so its exactness does
not depend on how good the quantizer is. The dequantizer was cross-checked against
city96/ComfyUI-GGUF `dequant.py`: both give the same float32 values, bit for bit, on blocks of every
type here (their code is not part of this repository).

Block layouts (bytes, in order):
  Q8_0  d f16, qs int8[32]                                  34
  Q4_0  d f16, qs u8[16] (element j low nibble, j+16 high)  18
  Q4_1  d f16, m f16, qs u8[16]                             20
  Q5_0  d f16, qh u8[4] (bit j: 5th bit of element j), qs   22
  Q5_1  d f16, m f16, qh u8[4], qs u8[16]                   24
  Q2_K  scales u8[16] (lo: scale, hi: min), qs u8[64], d, dmin                84
  Q3_K  hmask u8[32], qs u8[64], scales u8[12] (6-bit, −32), d                110
  Q4_K  d, dmin, scales u8[12] (6-bit scales and mins), qs u8[128]           144
  Q5_K  d, dmin, scales u8[12], qh u8[32], qs u8[128]                         176
  Q6_K  ql u8[128], qh u8[64], scales int8[16], d                             210
"""
import struct

import numpy as np

GGML_TYPES = {'F32': 0, 'F16': 1, 'Q4_0': 2, 'Q4_1': 3, 'Q5_0': 6, 'Q5_1': 7, 'Q8_0': 8, 'Q2_K': 10, 'Q3_K': 11,
              'Q4_K': 12, 'Q5_K': 13, 'Q6_K': 14, 'BF16': 30}
# elements per block, bytes per block
BLOCK = {'F32': (1, 4), 'F16': (1, 2), 'BF16': (1, 2), 'Q8_0': (32, 34), 'Q4_0': (32, 18), 'Q4_1': (32, 20),
         'Q5_0': (32, 22), 'Q5_1': (32, 24), 'Q2_K': (256, 84), 'Q3_K': (256, 110), 'Q4_K': (256, 144),
         'Q5_K': (256, 176), 'Q6_K': (256, 210)}


def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def f16_bytes(x):
    return f16(x).astype('<f2').tobytes()


# ---------------------------------------------------------------- element orders inside K-quant blocks
def k2_positions():
    """Q2_K/Q3_K low 2 bits: element e of a 256-block → (byte in qs, shift); Q3_K hmask bit too."""
    e = np.arange(256)
    half, r = e // 128, e % 128
    j, l = r // 32, r % 32
    return 32 * half + l, 2 * j, l, 4 * half + j


def k4_positions():
    """Q4_K/Q5_K: element e → (byte in qs, high nibble?, qh bit)."""
    e = np.arange(256)
    c, r = e // 64, e % 64
    hi = (r >= 32).astype(np.int64)
    l = r % 32
    return 32 * c + l, hi, l, 2 * c + hi


def k6_positions():
    """Q6_K: element e → (ql byte, high nibble?, qh byte, qh shift)."""
    e = np.arange(256)
    half, r = e // 128, e % 128
    quarter, l = r // 32, r % 32
    ql = 64 * half + l + 32 * (quarter % 2)
    hi = (quarter >= 2).astype(np.int64)
    return ql, hi, 32 * half + l, 2 * quarter


def pack_scale_min_k4(sc, mn):
    """Inverse of ggml's get_scale_min_k4: 8 six-bit scales and mins → 12 bytes."""
    q = np.zeros(12, dtype=np.uint8)
    for j in range(8):
        if j < 4:
            q[j] |= sc[j] & 63
            q[j + 4] |= mn[j] & 63
        else:
            q[j + 4] |= (sc[j] & 0xF) | ((mn[j] & 0xF) << 4)
            q[j - 4] |= (sc[j] >> 4) << 6
            q[j] |= (mn[j] >> 4) << 6
    return q


def unpack_scale_min_k4(q):
    sc, mn = np.zeros(8, dtype=np.int64), np.zeros(8, dtype=np.int64)
    q = q.astype(np.int64)
    for j in range(8):
        if j < 4:
            sc[j], mn[j] = q[j] & 63, q[j + 4] & 63
        else:
            sc[j] = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)
            mn[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
    return sc, mn


def pack_q3_scales(s):
    """16 six-bit scales (already +32) → 12 bytes, as dequantize_row_q3_K unpacks them."""
    q = np.zeros(12, dtype=np.uint8)
    for i in range(16):
        lo, hi = s[i] & 0xF, (s[i] >> 4) & 3
        if i < 8:
            q[i] |= lo
        else:
            q[i - 8] |= lo << 4
        q[8 + i % 4] |= hi << (2 * (i // 4))
    return q


def unpack_q3_scales(q):
    q = q.astype(np.int64)
    s = np.zeros(16, dtype=np.int64)
    for i in range(16):
        lo = q[i] & 0xF if i < 8 else q[i - 8] >> 4
        s[i] = lo | (((q[8 + i % 4] >> (2 * (i // 4))) & 3) << 4)
    return s


# ---------------------------------------------------------------- quantizers (valid blocks)
def quantize_block(t, x):
    x = x.astype(np.float32)
    if t == 'Q8_0':
        d = f16(np.abs(x).max() / 127)
        q = np.clip(np.round(x / d), -127, 127) if d else np.zeros(32)
        return f16_bytes(d) + q.astype(np.int8).tobytes()
    if t in ('Q4_0', 'Q5_0'):
        bits = 4 if t == 'Q4_0' else 5
        half = 1 << (bits - 1)
        m = x[np.argmax(np.abs(x))]
        d = f16(m / -half)
        q = np.clip(np.round(x / d + half), 0, 2 * half - 1).astype(np.int64) if d else np.full(32, half)
        lo = (q[:16] & 0xF) | ((q[16:] & 0xF) << 4)
        out = f16_bytes(d)
        if bits == 5:
            qh = sum(int((q[j] >> 4) & 1) << j for j in range(32))
            out += struct.pack('<I', qh)
        return out + lo.astype(np.uint8).tobytes()
    if t in ('Q4_1', 'Q5_1'):
        top = 15 if t == 'Q4_1' else 31
        lo_v, hi_v = x.min(), x.max()
        d, m = f16((hi_v - lo_v) / top), f16(lo_v)
        q = np.clip(np.round((x - np.float32(m)) / d), 0, top).astype(np.int64) if d else np.zeros(32, dtype=np.int64)
        out = f16_bytes(d) + f16_bytes(m)
        if top == 31:
            out += struct.pack('<I', sum(int((q[j] >> 4) & 1) << j for j in range(32)))
        return out + ((q[:16] & 0xF) | ((q[16:] & 0xF) << 4)).astype(np.uint8).tobytes()
    if t in ('Q2_K', 'Q4_K', 'Q5_K'):
        sub, top, stop = {'Q2_K': (16, 3, 15), 'Q4_K': (32, 15, 63), 'Q5_K': (32, 31, 63)}[t]
        groups = x.reshape(-1, sub)
        mins = np.maximum(-groups.min(axis=1), 0)  # the subtracted minimum, ≥ 0 as in ggml
        scales = (groups.max(axis=1) + mins) / top
        d, dmin = f16(scales.max() / stop), f16(mins.max() / stop)
        sc = np.clip(np.round(scales / d), 0, stop).astype(np.int64) if d else np.zeros(len(scales), dtype=np.int64)
        mn = np.clip(np.round(mins / dmin), 0, stop).astype(np.int64) if dmin else np.zeros(len(mins), dtype=np.int64)
        step = np.float32(d) * sc
        offset = np.float32(dmin) * mn
        q = np.zeros(256, dtype=np.int64)
        for g in range(len(sc)):
            if step[g]:
                q[g * sub:(g + 1) * sub] = np.clip(np.round((groups[g] + offset[g]) / step[g]), 0, top)
        if t == 'Q2_K':
            byte, shift, _, _ = k2_positions()
            qs = np.zeros(64, dtype=np.int64)
            np.add.at(qs, byte, q << shift)
            return (sc | (mn << 4)).astype(np.uint8).tobytes() + qs.astype(np.uint8).tobytes() + f16_bytes(d) + f16_bytes(dmin)
        byte, hi, l, bit = k4_positions()
        qs = np.zeros(128, dtype=np.int64)
        np.add.at(qs, byte, (q & 0xF) << (4 * hi))
        head = f16_bytes(d) + f16_bytes(dmin) + pack_scale_min_k4(sc, mn).tobytes()
        if t == 'Q4_K':
            return head + qs.astype(np.uint8).tobytes()
        qh = np.zeros(32, dtype=np.int64)
        np.add.at(qh, l, ((q >> 4) & 1) << bit)
        return head + qh.astype(np.uint8).tobytes() + qs.astype(np.uint8).tobytes()
    if t in ('Q3_K', 'Q6_K'):
        half, stop = (4, 32) if t == 'Q3_K' else (32, 128)
        groups = x.reshape(16, 16)
        peak = groups[np.arange(16), np.argmax(np.abs(groups), axis=1)]
        scales = peak / -half
        big = scales[np.argmax(np.abs(scales))]
        d = f16(big / -stop)
        sc = np.clip(np.round(scales / d), -stop, stop - 1).astype(np.int64) if d else np.zeros(16, dtype=np.int64)
        step = np.float32(d) * sc
        q = np.zeros(256, dtype=np.int64)
        for g in range(16):
            if step[g]:
                q[g * 16:(g + 1) * 16] = np.clip(np.round(groups[g] / step[g]), -half, half - 1)
        q += half
        if t == 'Q3_K':
            byte, shift, l, bit = k2_positions()
            qs, hm = np.zeros(64, dtype=np.int64), np.zeros(32, dtype=np.int64)
            np.add.at(qs, byte, (q & 3) << shift)
            np.add.at(hm, l, ((q >> 2) & 1) << bit)
            return hm.astype(np.uint8).tobytes() + qs.astype(np.uint8).tobytes() + pack_q3_scales(sc + 32).tobytes() + f16_bytes(d)
        ql_byte, hi, qh_byte, qh_shift = k6_positions()
        ql, qh = np.zeros(128, dtype=np.int64), np.zeros(64, dtype=np.int64)
        np.add.at(ql, ql_byte, (q & 0xF) << (4 * hi))
        np.add.at(qh, qh_byte, (q >> 4) << qh_shift)
        return ql.astype(np.uint8).tobytes() + qh.astype(np.uint8).tobytes() + sc.astype(np.int8).tobytes() + f16_bytes(d)
    raise ValueError(t)


def quantize(t, values):
    """A 2-D float array [rows, cols] → the tensor's GGUF bytes (rows × blocks along cols)."""
    if t == 'F32':
        return values.astype('<f4').tobytes()
    if t == 'F16':
        return values.astype('<f2').tobytes()
    if t == 'BF16':
        bits = values.astype(np.float32).view(np.uint32)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype('<u2')
        return rounded.tobytes()
    n, _ = BLOCK[t]
    flat = values.reshape(-1, n)
    return b''.join(quantize_block(t, block) for block in flat)


# ---------------------------------------------------------------- dequantizers (ggml's dequantize_row_*)
def dequantize(t, data, count):
    """GGUF bytes of `count` elements → float32 values, block by block as ggml's dequantize_row_*."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if t == 'F32':
        return raw.view('<f4').astype(np.float32)
    if t == 'F16':
        return raw.view('<f2').astype(np.float32)
    if t == 'BF16':
        return (raw.view('<u2').astype(np.uint32) << 16).view(np.float32)
    n, size = BLOCK[t]
    blocks = raw.reshape(-1, size)
    out = np.zeros((len(blocks), n), dtype=np.float32)
    half = lambda b, at: np.float32(b[at:at + 2].view('<f2')[0])
    for i, b in enumerate(blocks):
        y = out[i]
        if t == 'Q8_0':
            y[:] = half(b, 0) * b[2:].view(np.int8).astype(np.float32)
        elif t in ('Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'):
            d = half(b, 0)
            m = half(b, 2) if t in ('Q4_1', 'Q5_1') else None
            at = 4 if m is not None else 2
            qh = 0
            if t in ('Q5_0', 'Q5_1'):
                qh = int(b[at:at + 4].view('<u4')[0])
                at += 4
            qs = b[at:at + 16].astype(np.int64)
            for j in range(16):
                x0, x1 = qs[j] & 0xF, qs[j] >> 4
                if t in ('Q5_0', 'Q5_1'):
                    x0 |= ((qh >> j) << 4) & 0x10
                    x1 |= (qh >> (j + 12)) & 0x10
                if m is None:
                    off = 8 if t == 'Q4_0' else 16
                    y[j], y[j + 16] = (x0 - off) * d, (x1 - off) * d
                else:
                    y[j], y[j + 16] = x0 * d + m, x1 * d + m
        elif t == 'Q2_K':
            sc, qs = b[:16].astype(np.int64), b[16:80].astype(np.int64)
            d, dmin = half(b, 80), half(b, 82)
            at, is_ = 0, 0
            for n0 in range(0, 256, 128):
                shift = 0
                for _ in range(4):
                    for part in (0, 16):
                        s = sc[is_]
                        is_ += 1
                        dl, ml = d * np.float32(s & 0xF), dmin * np.float32(s >> 4)
                        for l in range(16):
                            y[at] = dl * np.float32((qs[n0 // 4 + part + l] >> shift) & 3) - ml
                            at += 1
                    shift += 2
        elif t == 'Q3_K':
            hm, qs = b[:32].astype(np.int64), b[32:96].astype(np.int64)
            scales = unpack_q3_scales(b[96:108])
            d = half(b, 108)
            at, is_, m = 0, 0, 1
            for n0 in range(0, 256, 128):
                shift = 0
                for _ in range(4):
                    for part in (0, 16):
                        dl = d * np.float32(scales[is_] - 32)
                        is_ += 1
                        for l in range(16):
                            q = (qs[n0 // 4 + part + l] >> shift) & 3
                            y[at] = dl * np.float32(q - (0 if hm[part + l] & m else 4))
                            at += 1
                    shift += 2
                    m <<= 1
        elif t in ('Q4_K', 'Q5_K'):
            d, dmin = half(b, 0), half(b, 2)
            sc, mn = unpack_scale_min_k4(b[4:16])
            qh = b[16:48].astype(np.int64) if t == 'Q5_K' else None
            qs = b[48 if qh is not None else 16:].astype(np.int64)
            at = 0
            for c in range(4):
                for hi in (0, 1):
                    s = 2 * c + hi
                    d1, m1 = d * np.float32(sc[s]), dmin * np.float32(mn[s])
                    for l in range(32):
                        q = (qs[32 * c + l] >> (4 * hi)) & 0xF
                        if qh is not None:
                            q += 16 if qh[l] & (1 << s) else 0
                        y[at] = d1 * np.float32(q) - m1
                        at += 1
        elif t == 'Q6_K':
            ql, qh, sc = b[:128].astype(np.int64), b[128:192].astype(np.int64), b[192:208].view(np.int8).astype(np.int64)
            d = half(b, 208)
            for n0 in range(2):
                for l in range(32):
                    is_ = l // 16
                    base_l, base_h, base_s, base_y = 64 * n0, 32 * n0, 8 * n0, 128 * n0
                    q1 = ((ql[base_l + l] & 0xF) | (((qh[base_h + l] >> 0) & 3) << 4)) - 32
                    q2 = ((ql[base_l + l + 32] & 0xF) | (((qh[base_h + l] >> 2) & 3) << 4)) - 32
                    q3 = ((ql[base_l + l] >> 4) | (((qh[base_h + l] >> 4) & 3) << 4)) - 32
                    q4 = ((ql[base_l + l + 32] >> 4) | (((qh[base_h + l] >> 6) & 3) << 4)) - 32
                    y[base_y + l] = d * np.float32(sc[base_s + is_]) * np.float32(q1)
                    y[base_y + l + 32] = d * np.float32(sc[base_s + is_ + 2]) * np.float32(q2)
                    y[base_y + l + 64] = d * np.float32(sc[base_s + is_ + 4]) * np.float32(q3)
                    y[base_y + l + 96] = d * np.float32(sc[base_s + is_ + 6]) * np.float32(q4)
        else:
            raise ValueError(t)
    return out.reshape(-1)[:count]


# ---------------------------------------------------------------- GGUF v3 writer
def _string(s):
    raw = s.encode()
    return struct.pack('<Q', len(raw)) + raw


def _value(v):
    if isinstance(v, bool):
        return struct.pack('<I', 7) + struct.pack('<?', v)
    if isinstance(v, int):
        return struct.pack('<I', 4) + struct.pack('<I', v)
    if isinstance(v, float):
        return struct.pack('<I', 6) + struct.pack('<f', v)
    if isinstance(v, str):
        return struct.pack('<I', 8) + _string(v)
    raise TypeError(type(v))


def write_gguf(path, metadata, tensors, alignment=32):
    """tensors: [(name, type, torch-order shape, bytes)], written in order with aligned offsets."""
    out = bytearray(b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(metadata)))
    for key, value in metadata.items():
        out += _string(key) + _value(value)
    offset, blobs = 0, []
    for name, t, shape, data in tensors:
        out += _string(name) + struct.pack('<I', len(shape))
        for dim in reversed(shape):  # ne[0] is the innermost (contiguous) axis
            out += struct.pack('<Q', dim)
        out += struct.pack('<IQ', GGML_TYPES[t], offset)
        pad = (-len(data)) % alignment
        blobs.append(data + b'\0' * pad)
        offset += len(data) + pad
    out += b'\0' * ((-len(out)) % alignment)
    with open(path, 'wb') as f:
        f.write(out)
        for blob in blobs:
            f.write(blob)
