/** Plain RoPE and position interpolation (PI). Float64 throughout. */

/** ω_j = 1 / θ^(2j/d), j = 0 … d/2 − 1 (diffusers' get_1d_rotary_pos_embed). */
export function ropeOmega(dim: number, theta: number): Float64Array {
  const half = dim / 2;
  const omega = new Float64Array(half);
  for (let j = 0; j < half; j++) omega[j] = 1 / theta ** ((2 * j) / dim);
  return omega;
}

/** PI: every frequency divided by the scale s, ω_j = 1 / (s·θ^(2j/d)). */
export function linearOmega(dim: number, theta: number, scale: number): Float64Array {
  const half = dim / 2;
  const omega = new Float64Array(half);
  for (let j = 0; j < half; j++) omega[j] = 1 / (scale * theta ** ((2 * j) / dim));
  return omega;
}
