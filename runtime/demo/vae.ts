/**
 * The demo VAE decoder: latent [1, C, h, w] → image [1, 3, 32h, 32w] in [-1, 1].
 *
 * 3×3 convolutions only at the low resolutions (latent, ×2, ×4), then bilinear ×2 upsamplings
 * with 1×1 convolutions (3 channels) at the high resolutions, so a 4096² decode stays cheap. A Sin
 * "marbling" nonlinearity at ×4 turns smooth latent fields into colourful contour bands; the
 * receptive field stays within a few latent pixels, so overlapping tiles decode seamlessly.
 */
import { GraphBuilder, type SerializedModel } from '../onnx/builder.ts';
import { Net } from './nn.ts';
import { normalTensor } from './prng.ts';
import type { DemoDims } from './dims.ts';

/** Eight hues (RGB in [-1, 1]) that the eight marbled feature channels paint with. */
const PALETTE: readonly (readonly [number, number, number])[] = [
  [1, -0.6, -0.6], // red
  [1, 0.2, -0.8], // orange
  [0.8, 0.8, -0.8], // yellow
  [-0.6, 1, -0.6], // green
  [-0.8, 0.6, 0.9], // cyan
  [-0.6, -0.4, 1], // blue
  [0.5, -0.8, 0.9], // purple
  [1, -0.2, 0.5], // pink
];

/** [cout=3, cin=8] weights from the palette, each colour component centred over the hues. */
function paletteWeights(gain: number): number[][] {
  return [0, 1, 2].map((c) => {
    const column = PALETTE.map((rgb) => rgb[c]);
    const mean = column.reduce((a, v) => a + v, 0) / column.length;
    return column.map((v) => (v - mean) * gain);
  });
}

function scaledIdentity(n: number, gain: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? gain : 0)));
}

export function buildVaeDecoder(dims: DemoDims, seed: number): SerializedModel {
  const b = new GraphBuilder('dype_demo_vae_decoder');
  const nn = new Net(b, seed);
  if (dims.vaeScale !== 32) throw new RangeError('the demo VAE decoder upsamples by exactly 32');
  b.input('latent_sample', 'float32', [1, dims.latentChannels, 'latent_height', 'latent_width']);

  /** Conv with weight = base + N(0, (gain/√fan_in)²); `base` is [cout, cin] (1×1 kernels only). */
  const conv = (x: string, cin: number, cout: number, k: 1 | 3, hint: string, gain = 1, biasStd = 0.05, base?: readonly number[][]): string =>
    b.scope(hint, () => {
      const std = gain / Math.sqrt(cin * k * k);
      let w: string;
      if (base) {
        const data = normalTensor(seed, `${b.name}/${b.scopePrefix}weight`, cout * cin, std);
        for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) data[o * cin + i] += base[o][i];
        w = b.initFloat('weight', data, [cout, cin, 1, 1]);
      } else {
        w = nn.param('weight', [cout, cin, k, k], std);
      }
      const bias = nn.param('bias', [cout], biasStd);
      const pad = (k - 1) / 2;
      return b.op('Conv', [x, w, bias], { kernel_shape: [k, k], pads: [pad, pad, pad, pad] }, { name: 'conv' });
    });
  const up = (x: string): string =>
    b.op('Resize', [x, '', b.constF([1, 1, 2, 2])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' }, { name: 'up' });

  // Odd activations (tanh, sin) keep every feature's mean near zero for symmetric latents, so the
  // palette is used evenly instead of drifting towards one colour.
  const tanh = (v: string) => b.op('Tanh', [v]);
  let x = 'latent_sample';
  x = tanh(conv(x, dims.latentChannels, 32, 3, 'conv_in', 1.5));
  x = tanh(conv(x, 32, 32, 3, 'mid', 1.5));
  x = tanh(conv(up(x), 32, 16, 3, 'up_blocks.0', 1.5)); //                                               ×2
  x = b.op('Sin', [conv(up(x), 16, 8, 3, 'up_blocks.1', 3, 0.15)], {}, { name: 'marble' }); //               ×4
  x = conv(tanh(conv(up(x), 8, 8, 1, 'up_blocks.2', 1.5, 0.1)), 8, 3, 1, 'to_rgb', 0.3, 0.05, paletteWeights(0.8)); // ×8
  x = tanh(conv(up(x), 3, 3, 1, 'up_blocks.3', 0.3, 0.05, scaledIdentity(3, 1.2))); //                     ×16
  // conv_out is 1×1 and linear, so it commutes with the bilinear ×2 (whose weights sum to 1): run it
  // at ×16 and leave only the upsampling and the final Tanh at full resolution.
  const out = up(conv(x, 3, 3, 1, 'conv_out', 0.3, 0.05, scaledIdentity(3, 1.6))); //                          ×32
  b.op('Tanh', [out], {}, { outputs: ['sample'] });
  b.output('sample', 'float32', [1, 3, 'height', 'width']);
  return b.serialize({ opset: 17, producerName: 'dype-demo', docString: 'Untrained VAE-decoder stand-in (demo bundle): smooth abstract colour fields.' });
}
