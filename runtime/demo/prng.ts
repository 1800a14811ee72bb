/**
 * Deterministic weights for the demo bundle. Each tensor gets its own stream: the seed of the
 * pipeline's documented Gaussian generator (runtime/pipeline/noise.ts) is FNV-1a-32 of
 * `${seed}:${tensorName}`, so adding a tensor never shifts the values of the others.
 */
import { gaussianNoise } from '../pipeline/noise.ts';

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** `count` values mean + std·N(0,1), rounded to float32. */
export function normalTensor(seed: number, name: string, count: number, std: number, mean = 0): Float32Array {
  const out = gaussianNoise(fnv1a32(`${seed >>> 0}:${name}`), count);
  for (let i = 0; i < count; i++) out[i] = mean + std * out[i];
  return out;
}
