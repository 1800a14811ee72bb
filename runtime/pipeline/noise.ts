/**
 * Seeded Gaussian noise, identical on every machine for the same seed:
 * xoshiro128** (Blackman & Vigna) seeded by four SplitMix32 outputs of the 32-bit seed, uniform
 * u ∈ (0, 1] from the top 24 bits, and Box–Muller pairs z = √(−2 ln u₁)·(cos, sin)(2π u₂).
 * V8's Math.log/cos/sin are fdlibm ports, so the float64 results do not depend on the CPU or OS.
 */

function splitMix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** xoshiro128**: 32-bit outputs. */
export function xoshiro128(seed: number): () => number {
  const init = splitMix32(seed);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  return () => {
    const result = Math.imul(((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = ((d << 11) | (d >>> 21)) >>> 0;
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    return result;
  };
}

function checkSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in 0 … 4294967295, got ${String(seed)}`);
  }
  return seed;
}

/** `count` standard normal samples as float32. */
export function gaussianNoise(seed: number, count: number): Float32Array {
  const next = xoshiro128(checkSeed(seed));
  const uniform = () => ((next() >>> 8) + 1) / 16777216; // (0, 1]
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/**
 * Cells per side of the size-independent grid: the noise's mean over each of these 16 × 16 cells of
 * the frame (in normalised coordinates) depends on the seed only, never on the size.
 */
export const NOISE_GRID = 16;

/**
 * Starting noise [C, h, w] whose composition survives a change of size: the same seed at 1024×1024 and
 * at 1536×1024 gives similar pictures (stretched), where per-element noise would give unrelated ones.
 *
 * Each channel's frame is cut into NOISE_GRID × NOISE_GRID cells in normalised coordinates (a latent
 * pixel at row y belongs to cell row ⌊y·G/h⌋). One value P per cell is drawn first, in the same order
 * at every size; then the n latent pixels of the cell are drawn conditioned on their sum being P·√n:
 *   z_i = P/√n + (e_i − ē),  e_i ~ N(0, 1) i.i.d., ē their mean over the cell.
 * Var z_i = 1/n + (1 − 1/n) = 1 and Cov(z_i, z_j) = 1/n − 1/n = 0, so z is exactly i.i.d. N(0, 1), the
 * prior the model was trained on (unlike blending an upsampled coarse noise, which correlates
 * neighbours), while its low frequencies are the seed's alone. Integer arithmetic and gaussianNoise
 * only, so the values are the same on every machine.
 */
export function sizeIndependentNoise(seed: number, shape: { channels: number; height: number; width: number }): Float32Array {
  const { channels: C, height: h, width: w } = shape;
  const G = NOISE_GRID;
  const cells = G * G;
  const draws = gaussianNoise(seed, C * cells + C * h * w);
  const cellOf = (i: number, n: number) => Math.floor((i * G) / n);
  const rowCell = Array.from({ length: h }, (_, y) => cellOf(y, h));
  const colCell = Array.from({ length: w }, (_, x) => cellOf(x, w));
  const count = new Float64Array(cells);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) count[rowCell[y] * G + colCell[x]]++;
  const out = new Float32Array(C * h * w);
  const sum = new Float64Array(cells);
  for (let c = 0; c < C; c++) {
    const fine = draws.subarray(C * cells + c * h * w, C * cells + (c + 1) * h * w);
    sum.fill(0);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) sum[rowCell[y] * G + colCell[x]] += fine[y * w + x];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const k = rowCell[y] * G + colCell[x];
        out[c * h * w + y * w + x] = draws[c * cells + k] / Math.sqrt(count[k]) + fine[y * w + x] - sum[k] / count[k];
      }
    }
  }
  return out;
}
