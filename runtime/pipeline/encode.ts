/**
 * The init image of image-to-image: read and resized with sharp onto the generated canvas, then
 * encoded with the bundle's VAE encoder in overlapping tiles (the same spans and blend weights as the
 * tiled decode), so a 16 MP init never goes through the encoder whole.
 */
import sharp from 'sharp';
import { axisWeights, neighbourOverlaps, tileSpans, type TileConfig } from './decode.ts';
import { MAX_UPLOAD_PIXELS } from '../contract/uploads.ts';
import type { Crop } from './image.ts';

/** 8-bit value → [-1, 1], as the VAE reads pixels. */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/** Encodes one image crop [3, h, w] in [-1, 1] to its latent parameters [C′, h/f, w/f] (the mean first). */
export type EncodeTile = (image: Float32Array, height: number, width: number) => Promise<Float32Array>;

/**
 * The init image as interleaved 8-bit RGB of `canvas` size: turned upright (EXIF), alpha flattened,
 * resized to `place` (sharp's Lanczos; a same-size image is copied unchanged) and placed there, the
 * rest of the canvas filled by repeating the edge pixels (the VAE sees no artificial border).
 */
export async function initCanvas(bytes: Uint8Array, canvas: { width: number; height: number }, place: Crop): Promise<Uint8Array> {
  const { data, info } = await sharp(bytes, { limitInputPixels: MAX_UPLOAD_PIXELS })
    .rotate()
    .flatten()
    .toColourspace('srgb')
    .resize(place.width, place.height, { fit: 'fill' })
    .extend({
      left: place.left,
      top: place.top,
      right: canvas.width - place.left - place.width,
      bottom: canvas.height - place.top - place.height,
      extendWith: 'copy',
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== canvas.width || info.height !== canvas.height || info.channels !== 3) {
    throw new Error(`init canvas came out ${info.width}×${info.height}×${info.channels}, expected ${canvas.width}×${canvas.height}×3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Encodes interleaved RGB (width × height px, multiples of `scale`) to the latent mean [C, h, w] with
 * h = height/scale: tiles of `tiles.tile` latent px overlapping by `tiles.overlap`, blended linearly.
 */
export async function encodeTiled(
  rgb: Uint8Array,
  width: number,
  height: number,
  scale: number,
  channels: number,
  tiles: TileConfig,
  encodeTile: EncodeTile,
): Promise<Float32Array> {
  const [h, w] = [height / scale, width / scale];
  const ys = tileSpans(h, tiles.tile, tiles.overlap);
  const xs = tileSpans(w, tiles.tile, tiles.overlap);
  const margin = tiles.margin ?? Math.floor(tiles.overlap / 4);
  const latent = new Float32Array(channels * h * w);
  for (let ty = 0; ty < ys.length; ty++) {
    const y = ys[ty];
    const wy = axisWeights(y.size, ...neighbourOverlaps(ys, ty, 1), margin);
    for (let tx = 0; tx < xs.length; tx++) {
      const x = xs[tx];
      const wx = axisWeights(x.size, ...neighbourOverlaps(xs, tx, 1), margin);
      const [th, tw] = [y.size * scale, x.size * scale];
      const image = new Float32Array(3 * th * tw);
      for (let k = 0; k < 3; k++) {
        let dst = k * th * tw;
        for (let r = 0; r < th; r++) {
          let src = ((y.start * scale + r) * width + x.start * scale) * 3 + k;
          for (let c = 0; c < tw; c++, src += 3) image[dst++] = TO_UNIT[rgb[src]];
        }
      }
      const params = await encodeTile(image, th, tw);
      for (let k = 0; k < channels; k++) {
        for (let r = 0; r < y.size; r++) {
          for (let c = 0; c < x.size; c++) latent[(k * h + y.start + r) * w + x.start + c] += wy[r] * wx[c] * params[(k * y.size + r) * x.size + c];
        }
      }
    }
  }
  return latent;
}
