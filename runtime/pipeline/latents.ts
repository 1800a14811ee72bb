/** Pure helpers for FLUX latent layout: patch packing and position ids. No ORT, no I/O. */

export interface LatentShape {
  channels: number;
  /** Latent height/width in latent pixels (image px / VAE scale factor). */
  height: number;
  width: number;
}

function checkPatchable(shape: LatentShape, patch: number): void {
  if (shape.height % patch !== 0 || shape.width % patch !== 0) {
    throw new RangeError(`latent ${shape.height}x${shape.width} is not a multiple of the ${patch}x${patch} patch`);
  }
}

/**
 * [C, h, w] → [(h/p)·(w/p), C·p·p]: each p×p patch becomes one token, tokens in row-major order,
 * features ordered channel-major then patch row then patch column (diffusers' _pack_latents).
 */
export function packLatents(latent: Float32Array, shape: LatentShape, patch = 2): Float32Array {
  checkPatchable(shape, patch);
  const { channels: C, height: h, width: w } = shape;
  const rows = h / patch;
  const cols = w / patch;
  const features = C * patch * patch;
  const packed = new Float32Array(latent.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const token = (i * cols + j) * features;
      for (let c = 0; c < C; c++) {
        for (let di = 0; di < patch; di++) {
          const src = c * h * w + (i * patch + di) * w + j * patch;
          const dst = token + (c * patch + di) * patch;
          for (let dj = 0; dj < patch; dj++) packed[dst + dj] = latent[src + dj];
        }
      }
    }
  }
  return packed;
}

/** Inverse of packLatents. */
export function unpackLatents(packed: Float32Array, shape: LatentShape, patch = 2): Float32Array {
  checkPatchable(shape, patch);
  const { channels: C, height: h, width: w } = shape;
  const rows = h / patch;
  const cols = w / patch;
  const features = C * patch * patch;
  const latent = new Float32Array(packed.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const token = (i * cols + j) * features;
      for (let c = 0; c < C; c++) {
        for (let di = 0; di < patch; di++) {
          const dst = c * h * w + (i * patch + di) * w + j * patch;
          const src = token + (c * patch + di) * patch;
          for (let dj = 0; dj < patch; dj++) latent[dst + dj] = packed[src + dj];
        }
      }
    }
  }
  return latent;
}

/**
 * Image token ids [rows·cols, axes]: (0, row, column) for FLUX.1's 3 axes, (0, row, column, 0) for
 * FLUX.2's 4 (t, h, w, l); row-major like the packed tokens.
 */
export function imageIds(rows: number, cols: number, axes = 3): Float32Array {
  const ids = new Float32Array(rows * cols * axes);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = (r * cols + c) * axes;
      ids[k + 1] = r;
      ids[k + 2] = c;
    }
  }
  return ids;
}

/** Text token ids [n, 3]: all zero in FLUX. */
export function textIds(tokens: number): Float32Array {
  return new Float32Array(tokens * 3);
}

/** Text token ids [n, axes] with the token's index on the last axis: FLUX.2's (0, 0, 0, l). */
export function textSequenceIds(tokens: number, axes: number): Float32Array {
  const ids = new Float32Array(tokens * axes);
  for (let l = 0; l < tokens; l++) ids[l * axes + axes - 1] = l;
  return ids;
}
