/**
 * Tiled VAE decode with linear blending over the overlaps. Tiles are decoded one by one and
 * accumulated into a float band one tile-row tall; rows that no later tile touches are finished
 * into the 8-bit RGB output, so float memory stays bounded by one band whatever the image size.
 */

export interface TileConfig {
  /** Tile side in latent pixels. */
  tile: number;
  /** Overlap between neighbouring tiles in latent pixels. */
  overlap: number;
}

/** Decodes one latent crop [C, h, w] to RGB in [-1, 1], [3, h·f, w·f]. */
export type DecodeTile = (latent: Float32Array, height: number, width: number) => Promise<Float32Array>;

/** Tile start offsets along one axis: stride tile − overlap, the last tile flush with the end. */
export function tileStarts(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];
  const stride = tile - overlap;
  if (stride < 1) throw new RangeError(`tile overlap (${overlap}) must be smaller than the tile (${tile})`);
  const starts: number[] = [];
  for (let s = 0; s + tile < length; s += stride) starts.push(s);
  starts.push(length - tile);
  return starts;
}

/**
 * Weight of one tile along an axis at pixel i ∈ [0, size): ramps (k + ½)/n over the n pixels
 * shared with the previous/next tile, 1 elsewhere. Overlapping ramps of neighbours sum to 1.
 */
function axisWeights(size: number, overlapBefore: number, overlapAfter: number): Float32Array {
  const w = new Float32Array(size).fill(1);
  for (let k = 0; k < overlapBefore; k++) w[k] = (k + 0.5) / overlapBefore;
  for (let k = 0; k < overlapAfter; k++) w[size - 1 - k] = Math.min(w[size - 1 - k], (k + 0.5) / overlapAfter);
  return w;
}

function cropLatent(latent: Float32Array, channels: number, height: number, width: number, y: number, x: number, h: number, w: number): Float32Array {
  const out = new Float32Array(channels * h * w);
  for (let c = 0; c < channels; c++) {
    for (let r = 0; r < h; r++) {
      const src = c * height * width + (y + r) * width + x;
      out.set(latent.subarray(src, src + w), (c * h + r) * w);
    }
  }
  return out;
}

const toByte = (v: number) => Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);

/**
 * Decodes latent [C, h, w] into interleaved 8-bit RGB of (h·scale) × (w·scale) pixels.
 * `onTile` is called after each tile (for progress).
 */
export async function decodeTiled(
  latent: Float32Array,
  shape: { channels: number; height: number; width: number },
  scale: number,
  tiles: TileConfig,
  decodeTile: DecodeTile,
  onTile?: (done: number, total: number) => void,
): Promise<Uint8Array> {
  const { channels, height, width } = shape;
  const tileH = Math.min(tiles.tile, height);
  const tileW = Math.min(tiles.tile, width);
  const ys = tileStarts(height, tileH, tiles.overlap);
  const xs = tileStarts(width, tileW, tiles.overlap);
  const W = width * scale;
  const H = height * scale;
  const bandRows = tileH * scale;
  const rgb = new Uint8Array(W * H * 3);
  // Float accumulators for the current band of rows [bandStart, bandStart + bandRows).
  const acc = new Float32Array(bandRows * W * 3);
  const weight = new Float32Array(bandRows * W);
  let bandStart = 0;
  let done = 0;

  for (let ty = 0; ty < ys.length; ty++) {
    const y0 = ys[ty];
    const before = ty > 0 ? (ys[ty - 1] + tileH - y0) * scale : 0;
    const after = ty < ys.length - 1 ? (y0 + tileH - ys[ty + 1]) * scale : 0;
    const wy = axisWeights(tileH * scale, before, after);
    for (let tx = 0; tx < xs.length; tx++) {
      const x0 = xs[tx];
      const left = tx > 0 ? (xs[tx - 1] + tileW - x0) * scale : 0;
      const right = tx < xs.length - 1 ? (x0 + tileW - xs[tx + 1]) * scale : 0;
      const wx = axisWeights(tileW * scale, left, right);
      const pixels = await decodeTile(cropLatent(latent, channels, height, width, y0, x0, tileH, tileW), tileH, tileW);
      const th = tileH * scale;
      const tw = tileW * scale;
      const plane = th * tw;
      for (let r = 0; r < th; r++) {
        const bandRow = y0 * scale + r - bandStart;
        for (let c = 0; c < tw; c++) {
          const w = wy[r] * wx[c];
          const px = bandRow * W + x0 * scale + c;
          const src = r * tw + c;
          weight[px] += w;
          acc[px * 3] += w * pixels[src];
          acc[px * 3 + 1] += w * pixels[plane + src];
          acc[px * 3 + 2] += w * pixels[2 * plane + src];
        }
      }
      onTile?.(++done, ys.length * xs.length);
    }
    // Rows above the next tile row are final: write them out and slide the band down.
    const finishedEnd = ty < ys.length - 1 ? ys[ty + 1] * scale : H;
    const finishedRows = finishedEnd - bandStart;
    for (let i = 0; i < finishedRows * W; i++) {
      const w = weight[i];
      const o = (bandStart * W + i) * 3;
      rgb[o] = toByte(acc[i * 3] / w);
      rgb[o + 1] = toByte(acc[i * 3 + 1] / w);
      rgb[o + 2] = toByte(acc[i * 3 + 2] / w);
    }
    acc.copyWithin(0, finishedRows * W * 3);
    acc.fill(0, (bandRows - finishedRows) * W * 3);
    weight.copyWithin(0, finishedRows * W);
    weight.fill(0, (bandRows - finishedRows) * W);
    bandStart = finishedEnd;
  }
  return rgb;
}
