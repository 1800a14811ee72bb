import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Reference numbers shared by every developer and CI at ../shared (read-only). */
export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url));

export function readShared<T>(relative: string): T {
  return JSON.parse(readFileSync(SHARED_DIR + relative, 'utf8')) as T;
}

export interface GoldenRopeCase {
  input: { height: number; width: number; txt_len: number; method: 'base' | 'ntk' | 'yarn'; dynamic: boolean; t: number };
  axes: { dim: number; omega: number[]; mscale: number }[];
  rows: Record<string, { cos: number[]; sin: number[] }>;
  n_tokens: number;
  sum_cos: number;
  sum_sin: number;
  sum_sq: number;
}

export interface GoldenScheduleCase {
  steps: number;
  image_seq_len: number;
  mu_linear: number;
  mu: number;
  sigmas: number[];
}

export interface GoldenVisionYarnCase {
  input: { height: number; width: number; t: number; dype_scale: number; dype_exponent: number };
  grid_tokens: [number, number];
  axes: { dim: number; omega: number[]; mscale: number }[];
}
