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

export function checkSeed(seed: number): number {
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
