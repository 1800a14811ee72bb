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
  /**
   * Latent pixels at each inner tile edge that get no weight: a convolutional decoder's output is
   * wrong within its receptive field of a cut, so the blend ramps only across the middle of the
   * overlap. Default: a quarter of the overlap.
   */
  margin?: number;
}

/** Decodes one latent crop [C, h, w] to RGB in [-1, 1], [3, h·f, w·f]. */
export type DecodeTile = (latent: Float32Array, height: number, width: number) => Promise<Float32Array>;

export interface Span {
  start: number;
  size: number;
}

/**
 * Tiles along one axis: stride tile − overlap, each neighbour pair sharing exactly `overlap`; the
 * last tile is shortened to end at the edge (so no three tiles ever share a pixel).
 */
export function tileSpans(length: number, tile: number, overlap: number): Span[] {
  if (length <= tile) return [{ start: 0, size: length }];
  // Beyond half a tile, three tiles would share pixels and the blend weights would not sum to 1.
  if (2 * overlap > tile) throw new RangeError(`tile overlap (${overlap}) must be at most half the tile (${tile})`);
  const stride = tile - overlap;
  const spans: Span[] = [];
  for (let start = 0; ; start += stride) {
    spans.push({ start, size: Math.min(tile, length - start) });
    if (start + tile >= length) return spans;
  }
}

/**
 * Weight of one tile along an axis at pixel i ∈ [0, size): 0 over `margin` px at a shared edge,
 * then a linear ramp over the rest of the overlap, 1 elsewhere. Neighbours' weights sum to 1.
 */
export function axisWeights(size: number, overlapBefore: number, overlapAfter: number, margin: number): Float32Array {
  const w = new Float32Array(size).fill(1);
  const ramp = (overlap: number, k: number) => {
    const m = Math.min(margin, Math.floor(overlap / 2));
    const width = overlap - 2 * m;
    if (k < m) return 0;
    if (k >= overlap - m) return 1;
    return width > 0 ? (k - m + 0.5) / width : 1;
  };
  for (let k = 0; k < overlapBefore; k++) w[k] = ramp(overlapBefore, k);
  for (let k = 0; k < overlapAfter; k++) w[size - 1 - k] = Math.min(w[size - 1 - k], ramp(overlapAfter, k));
  return w;
}

function cropLatent(latent: Float32Array, channels: number, height: number, width: number, y: Span, x: Span): Float32Array {
  const out = new Float32Array(channels * y.size * x.size);
  for (let c = 0; c < channels; c++) {
    for (let r = 0; r < y.size; r++) {
      const src = c * height * width + (y.start + r) * width + x.start;
      out.set(latent.subarray(src, src + x.size), (c * y.size + r) * x.size);
    }
  }
  return out;
}

/** Overlap (in output px) of span i with its previous and next neighbour. */
export function neighbourOverlaps(spans: Span[], i: number, scale: number): [number, number] {
  const before = i > 0 ? spans[i - 1].start + spans[i - 1].size - spans[i].start : 0;
  const after = i < spans.length - 1 ? spans[i].start + spans[i].size - spans[i + 1].start : 0;
  return [before * scale, after * scale];
}

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
  const ys = tileSpans(height, tiles.tile, tiles.overlap);
  const xs = tileSpans(width, tiles.tile, tiles.overlap);
  const margin = (tiles.margin ?? Math.floor(tiles.overlap / 4)) * scale;
  const W = width * scale;
  const H = height * scale;
  const bandRows = ys[0].size * scale;
  const rgb = new Uint8Array(W * H * 3);
  // Uint8ClampedArray stores clamp(round(v)): the [-1, 1] → [0, 255] conversion in one native step.
  const clamped = new Uint8ClampedArray(rgb.buffer);
  // Float accumulators (one plane per colour) for the band of rows [bandStart, bandStart + bandRows).
  // The blend weights of overlapping tiles sum to 1, so the sum needs no normalising.
  const band = [0, 1, 2].map(() => new Float32Array(bandRows * W));
  let bandStart = 0;
  let done = 0;

  for (let ty = 0; ty < ys.length; ty++) {
    const y = ys[ty];
    const wy = axisWeights(y.size * scale, ...neighbourOverlaps(ys, ty, scale), margin);
    for (let tx = 0; tx < xs.length; tx++) {
      const x = xs[tx];
      const wx = axisWeights(x.size * scale, ...neighbourOverlaps(xs, tx, scale), margin);
      const pixels = await decodeTile(cropLatent(latent, channels, height, width, y, x), y.size, x.size);
      const th = y.size * scale;
      const tw = x.size * scale;
      // Where this tile's weight is 1 no other tile contributes: copy instead of blending.
      const [solidFrom, solidTo] = [wx.indexOf(1), wx.lastIndexOf(1) + 1];
      for (let k = 0; k < 3; k++) {
        const plane = band[k];
        const source = k * th * tw;
        for (let r = 0; r < th; r++) {
          const wr = wy[r];
          if (wr === 0) continue;
          const dst = (y.start * scale + r - bandStart) * W + x.start * scale;
          const src = source + r * tw;
          if (wr === 1 && solidFrom >= 0) {
            plane.set(pixels.subarray(src + solidFrom, src + solidTo), dst + solidFrom);
            for (let c = 0; c < solidFrom; c++) plane[dst + c] += wx[c] * pixels[src + c];
            for (let c = solidTo; c < tw; c++) plane[dst + c] += wx[c] * pixels[src + c];
          } else {
            for (let c = 0; c < tw; c++) plane[dst + c] += wr * wx[c] * pixels[src + c];
          }
        }
      }
      onTile?.(++done, ys.length * xs.length);
    }
    // Rows above the next tile row are final: write them out and slide the band down.
    const finishedEnd = ty < ys.length - 1 ? ys[ty + 1].start * scale : H;
    const finished = (finishedEnd - bandStart) * W;
    const [red, green, blue] = band;
    const offset = bandStart * W * 3;
    for (let i = 0; i < finished; i++) {
      const o = offset + i * 3;
      clamped[o] = (red[i] + 1) * 127.5;
      clamped[o + 1] = (green[i] + 1) * 127.5;
      clamped[o + 2] = (blue[i] + 1) * 127.5;
    }
    for (const plane of band) {
      plane.copyWithin(0, finished);
      plane.fill(0, plane.length - finished);
    }
    bandStart = finishedEnd;
  }
  return rgb;
}
