/**
 * Deterministic weight generation for the demo bundle.
 *
 * Every tensor gets its own stream: state = FNV-1a-32 of `${seed}:${tensorName}`, then mulberry32
 * (Tommy Ettinger's 32-bit generator). Normal deviates use Irwin–Hall (sum of 12 uniforms − 6:
 * mean 0, variance 1) instead of Box–Muller, because it needs only exact integer/float arithmetic;
 * Math.log/Math.cos are implementation-approximated in ECMAScript, so Box–Muller could in principle
 * differ by an ulp between engines. Sums of 12 values of 32 fractional bits are exact in a double,
 * and the final scale-and-round (Math.fround) is correctly rounded, so the bytes are identical on
 * every machine.
 */

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: returns uint32 values. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const TWO_POW_32 = 4294967296;

export class TensorRandom {
  private readonly next: () => number;

  constructor(seed: number, name: string) {
    this.next = mulberry32(fnv1a32(`${seed >>> 0}:${name}`));
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next() / TWO_POW_32;
  }

  /** Approximately standard normal (Irwin–Hall, 12 terms), in [-6, 6]. */
  normal(): number {
    let s = 0;
    for (let i = 0; i < 12; i++) s += this.next();
    return s / TWO_POW_32 - 6;
  }
}

/** `count` values mean + std·N(0,1), rounded to float32. */
export function normalTensor(seed: number, name: string, count: number, std: number, mean = 0): Float32Array {
  const rng = new TensorRandom(seed, name);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = mean + std * rng.normal();
  return out;
}

/** `count` values uniform in [lo, hi), rounded to float32. */
export function uniformTensor(seed: number, name: string, count: number, lo: number, hi: number): Float32Array {
  const rng = new TensorRandom(seed, name);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = lo + (hi - lo) * rng.uniform();
  return out;
}
