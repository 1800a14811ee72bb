/**
 * The demo VAE: an analytic encoder/decoder pair, so that image-to-image can be tested for fidelity.
 *
 *   decode: latent z [1, C, h, w] → colour = tanh(A·z + b) per latent pixel → bilinear ×32 → [1, 3, 32h, 32w]
 *   encode: image x [1, 3, H, W] → 32×32 average pool → A⁺·(atanh(x̄) − b) → mean ‖ log-variance
 *
 * A is a fixed 3×C colour map and A⁺ = Aᵀ(AAᵀ)⁻¹ its pseudo-inverse, so decode(encode(x)) ≈ x for any
 * image that is smooth at the 32-px scale (the bilinear upsampling blurs a little across block
 * borders). The C − 3 latent directions in A's null space are invisible. The decoder's receptive
 * field is one latent pixel, so overlapping tiles decode seamlessly within the halo.
 */
import { GraphBuilder, type SerializedModel } from '../onnx/builder.ts';
import type { DemoDims } from './dims.ts';

/** The colour map A ([3][C], rows R, G, B) and bias b: each latent channel paints its own hue. */
export const DEMO_VAE_COLOURS: { readonly matrix: readonly (readonly number[])[]; readonly bias: readonly number[] } = Object.freeze({
  matrix: [
    [0.9, -0.35, 0.25, 0.45],
    [0.15, 0.85, -0.45, 0.3],
    [-0.3, 0.25, 0.95, -0.35],
  ],
  bias: [0.1, 0.05, -0.1],
});
/** Colours are clipped to ±this before atanh, so pure white or black encodes to a finite latent. */
const ATANH_CLIP = 0.995;
/** The encoder's log-variance: a deterministic encoder (σ ≈ 5e-5). */
const LOG_VARIANCE = -20;

/** Pseudo-inverse Aᵀ(AAᵀ)⁻¹ ([C][3]) of a full-rank 3×C matrix. */
export function pseudoInverse(a: readonly (readonly number[])[]): number[][] {
  const channels = a[0].length;
  const m = [0, 1, 2].map((i) => [0, 1, 2].map((j) => a[i].reduce((s, v, k) => s + v * a[j][k], 0)));
  const [[p, q, r], [s, t, u], [v, w, x]] = m;
  const det = p * (t * x - u * w) - q * (s * x - u * v) + r * (s * w - t * v);
  const inv = [
    [t * x - u * w, r * w - q * x, q * u - r * t],
    [u * v - s * x, p * x - r * v, r * s - p * u],
    [s * w - t * v, q * v - p * w, p * t - q * s],
  ].map((row) => row.map((e) => e / det));
  return Array.from({ length: channels }, (_, k) => [0, 1, 2].map((j) => a[0][k] * inv[0][j] + a[1][k] * inv[1][j] + a[2][k] * inv[2][j]));
}

function checkDims(dims: DemoDims): void {
  if (dims.latentChannels !== DEMO_VAE_COLOURS.matrix[0].length) throw new RangeError(`the demo VAE maps ${DEMO_VAE_COLOURS.matrix[0].length} latent channels`);
}

/** A 1×1 convolution with fixed weights [cout][cin] and bias. */
function pointwise(b: GraphBuilder, x: string, weights: readonly (readonly number[])[], bias: readonly number[], hint: string): string {
  const cout = weights.length;
  const cin = weights[0].length;
  const w = b.initFloat(`${hint}.weight`, Float32Array.from(weights.flat()), [cout, cin, 1, 1]);
  const bb = b.initFloat(`${hint}.bias`, Float32Array.from(bias), [cout]);
  return b.op('Conv', [x, w, bb], { kernel_shape: [1, 1] }, { name: hint });
}

export function buildVaeDecoder(dims: DemoDims): SerializedModel {
  checkDims(dims);
  const b = new GraphBuilder('dype_demo_vae_decoder');
  b.input('latent_sample', 'float32', [1, dims.latentChannels, 'latent_height', 'latent_width']);
  const colour = b.op('Tanh', [pointwise(b, 'latent_sample', DEMO_VAE_COLOURS.matrix, DEMO_VAE_COLOURS.bias, 'colour_map')]);
  const scale = dims.vaeScale;
  b.op('Resize', [colour, '', b.constF([1, 1, scale, scale])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' }, { outputs: ['sample'] });
  b.output('sample', 'float32', [1, 3, 'height', 'width']);
  return b.serialize({ opset: 17, producerName: 'dype-demo', docString: 'Analytic demo VAE decoder: tanh of a linear colour map, upsampled bilinearly.' });
}

/** optimum's layout: `sample` → `latent_parameters` (mean ‖ log-variance), plus `latent_sample` (the mean). */
export function buildVaeEncoder(dims: DemoDims): SerializedModel {
  checkDims(dims);
  const b = new GraphBuilder('dype_demo_vae_encoder');
  const scale = dims.vaeScale;
  b.input('sample', 'float32', [1, 3, 'height', 'width']);
  const pooled = b.op('AveragePool', ['sample'], { kernel_shape: [scale, scale], strides: [scale, scale] });
  const clipped = b.op('Clip', [pooled, b.constF(-ATANH_CLIP), b.constF(ATANH_CLIP)]);
  const inverse = pseudoInverse(DEMO_VAE_COLOURS.matrix);
  const bias = inverse.map((row) => -row.reduce((s, v, j) => s + v * DEMO_VAE_COLOURS.bias[j], 0));
  const mean = pointwise(b, b.op('Atanh', [clipped]), inverse, bias, 'colour_unmap');
  const logVariance = b.op('Add', [b.op('Mul', [mean, b.constF(0)]), b.constF(LOG_VARIANCE)]);
  b.op('Concat', [mean, logVariance], { axis: 1 }, { outputs: ['latent_parameters'] });
  b.op('Identity', [mean], {}, { outputs: ['latent_sample'] });
  b.output('latent_parameters', 'float32', [1, 2 * dims.latentChannels, 'latent_height', 'latent_width']);
  b.output('latent_sample', 'float32', [1, dims.latentChannels, 'latent_height', 'latent_width']);
  return b.serialize({ opset: 17, producerName: 'dype-demo', docString: 'Analytic demo VAE encoder: the pseudo-inverse of the demo decoder.' });
}
