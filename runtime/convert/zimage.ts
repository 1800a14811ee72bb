/**
 * The Z-Image transformer (NextDiT, "S3-DiT") from ComfyUI's diffusion-model file: key names
 * (comfy/ldm/lumina/model.py), every size derived from tensor shapes, and the DyPE-ready graph.
 *
 * The graph follows Tongyi-MAI/Z-Image src/zimage/transformer.py: the image tokens pass the noise
 * refiner blocks and the caption tokens the context refiner blocks, each alone, then both run
 * through the main layers as one sequence. Every block has sandwich RMSNorms (eps 1e-5), q/k
 * RMSNorm, a SwiGLU feed-forward and, where modulated, a scale and a tanh gate per branch. Each
 * sequence is padded to a multiple of 32 with a learned pad token, and the pad rows take part in
 * attention (nothing masks them), so the graph adds them exactly as the model does.
 *
 * Feeds and output as the shared sampler uses them:
 * - timestep is the model's own t = 1 − σ (the family's timestep convention), ×1000 inside;
 * - hidden_states and the output are packed as FLUX packs latents (channel, patch row, patch column);
 *   Z-Image's patches are (patch row, patch column, channel), reordered here;
 * - the output is the velocity dx/dσ of the Euler step, the negated model output (ComfyUI returns −x too).
 */
import { ZIMAGE_DEFAULTS } from '../bundle/zimage.ts';
import type { GraphBuilder } from '../onnx/builder.ts';
import { silu } from '../onnx/ops.ts';
import { ditLayers, inPrecision, type DitGraphOptions } from './dit.ts';
import { FLUX_OUTPUT } from './flux.ts';
import { countIndexed, linear, shapeOf, TensorShapeError } from './layers.ts';
import type { WeightSource } from './weights.ts';

/** The head dim Z-Image's RoPE axes split: 32 + 48 + 48. */
const HEAD_DIM = ZIMAGE_DEFAULTS.axesDim.reduce((a, b) => a + b, 0);

/** The latent patch: 2×2 latent pixels per token (all_patch_size). */
const PATCH_AREA = 4;

/** RMSNorm eps of every norm in the blocks and of the caption embedder (norm_eps). */
const NORM_EPS = 1e-5;

/** The three groups of blocks, in the order the model runs them. */
export const ZIMAGE_BLOCK_GROUPS = ['noise_refiner', 'context_refiner', 'layers'] as const;
export type ZImageBlockGroup = (typeof ZIMAGE_BLOCK_GROUPS)[number];

/** The context refiner has no modulation: it never sees the timestep. */
const MODULATED: Readonly<Record<ZImageBlockGroup, boolean>> = Object.freeze({ noise_refiner: true, context_refiner: false, layers: true });

/** Every size of a Z-Image transformer, read from its tensors' shapes. */
export interface ZImageConfig {
  hidden: number;
  heads: number;
  headDim: number;
  /** SwiGLU width (w1/w3 rows). */
  mlpHidden: number;
  /** Features per packed image token (latent channels × patch²). */
  inChannels: number;
  outChannels: number;
  /** Caption feature width (the text encoder's hidden size: Qwen3-4B's 2560). */
  capDim: number;
  /** Width of the sinusoidal timestep embedding. */
  timeDim: number;
  /** Width of the timestep MLP's hidden layer. */
  timeHidden: number;
  /** Width of the timestep embedding every modulation reads (min(dim, 256)). */
  adalnDim: number;
  blocks: Record<ZImageBlockGroup, number>;
  axesDim: number[];
  theta: number;
}

/** Checkpoint keys of block `i` of `group`. */
function blockKeys(group: ZImageBlockGroup, i: number) {
  const p = `${group}.${i}.`;
  return {
    qkv: `${p}attention.qkv`,
    out: `${p}attention.out`,
    qNorm: `${p}attention.q_norm.weight`,
    kNorm: `${p}attention.k_norm.weight`,
    w1: `${p}feed_forward.w1`,
    w2: `${p}feed_forward.w2`,
    w3: `${p}feed_forward.w3`,
    attentionNorm1: `${p}attention_norm1.weight`,
    attentionNorm2: `${p}attention_norm2.weight`,
    ffnNorm1: `${p}ffn_norm1.weight`,
    ffnNorm2: `${p}ffn_norm2.weight`,
    modulation: `${p}adaLN_modulation.0`,
  };
}

/** Sizes from shapes; every tensor the graph will read is checked to exist with the expected shape. */
export function deriveZImageConfig(w: WeightSource): ZImageConfig {
  const matrix = (key: string) => shapeOf(w, key, [null, null]);
  const [hidden, inChannels] = matrix('x_embedder.weight');
  const [, capDim] = matrix('cap_embedder.1.weight');
  const [timeHidden, timeDim] = matrix('t_embedder.mlp.0.weight');
  const [adalnDim] = matrix('t_embedder.mlp.2.weight');
  const [outChannels] = matrix('final_layer.linear.weight');
  const first = blockKeys('layers', 0);
  const [headDim] = shapeOf(w, first.qNorm, [null]);
  const [mlpHidden] = matrix(`${first.w1}.weight`);
  if (headDim !== HEAD_DIM) {
    throw new TensorShapeError(w.origin, first.qNorm, [headDim], `[${HEAD_DIM}] (Z-Image's RoPE splits a head into axes ${ZIMAGE_DEFAULTS.axesDim.join(', ')})`);
  }
  if (hidden % headDim !== 0) throw new Error(`${w.origin}: hidden width ${hidden} is not a multiple of the head dim ${headDim}`);
  if (inChannels % PATCH_AREA !== 0) throw new TensorShapeError(w.origin, 'x_embedder.weight', [hidden, inChannels], `[${hidden}, a multiple of ${PATCH_AREA}] (2×2 latent patches)`);
  const blocks = Object.fromEntries(ZIMAGE_BLOCK_GROUPS.map((g) => [g, countIndexed(w, `${g}.`)])) as Record<ZImageBlockGroup, number>;
  const config: ZImageConfig = {
    hidden,
    heads: hidden / headDim,
    headDim,
    mlpHidden,
    inChannels,
    outChannels,
    capDim,
    timeDim,
    timeHidden,
    adalnDim,
    blocks,
    axesDim: [...ZIMAGE_DEFAULTS.axesDim],
    theta: ZIMAGE_DEFAULTS.theta,
  };
  for (const [key, shape] of zimageShapes(config)) shapeOf(w, key, shape);
  return config;
}

/** Every tensor of the model and its shape (PyTorch Linear weights are [out, in]). */
export function zimageShapes(c: ZImageConfig): Map<string, number[]> {
  const D = c.hidden;
  const shapes = new Map<string, number[]>();
  const linear = (name: string, out: number, inF: number, bias = true) => {
    shapes.set(`${name}.weight`, [out, inF]);
    if (bias) shapes.set(`${name}.bias`, [out]);
  };
  linear('x_embedder', D, c.inChannels);
  shapes.set('cap_embedder.0.weight', [c.capDim]);
  linear('cap_embedder.1', D, c.capDim);
  linear('t_embedder.mlp.0', c.timeHidden, c.timeDim);
  linear('t_embedder.mlp.2', c.adalnDim, c.timeHidden);
  shapes.set('x_pad_token', [1, D]);
  shapes.set('cap_pad_token', [1, D]);
  for (const group of ZIMAGE_BLOCK_GROUPS) {
    for (let i = 0; i < c.blocks[group]; i++) {
      const k = blockKeys(group, i);
      linear(k.qkv, 3 * D, D, false);
      linear(k.out, D, D, false);
      shapes.set(k.qNorm, [c.headDim]);
      shapes.set(k.kNorm, [c.headDim]);
      linear(k.w1, c.mlpHidden, D, false);
      linear(k.w2, D, c.mlpHidden, false);
      linear(k.w3, c.mlpHidden, D, false);
      for (const norm of [k.attentionNorm1, k.attentionNorm2, k.ffnNorm1, k.ffnNorm2]) shapes.set(norm, [D]);
      if (MODULATED[group]) linear(k.modulation, 4 * D, c.adalnDim);
    }
  }
  linear('final_layer.linear', c.outChannels, D);
  linear('final_layer.adaLN_modulation.1', D, c.adalnDim);
  return shapes;
}

/**
 * The DyPE-ready Z-Image transformer graph over `w`'s weights. Inputs: hidden_states [1, N, in]
 * (FLUX-packed), encoder_hidden_states [1, L, cap] (the caption's unpadded rows), timestep [1]
 * (1 − σ), img_ids [N, 3] and txt_ids [L, 3] (the family's zimageIds), rope_omega and rope_mscale
 * [64] (every axis, the caption axis included). Output: out_hidden_states [1, N, out], the
 * FLUX-packed velocity. `precision: 'float16'` computes the blocks in float16 with inputs and
 * output float32 (dit.ts DitPrecision): the sandwich norms keep float32 statistics like the q/k
 * norms, and both residual adds (gated and plain) are clamped.
 */
export function buildZImageTransformer(b: GraphBuilder, w: WeightSource, c: ZImageConfig, options: DitGraphOptions = {}): void {
  inPrecision(b, options, (half) => buildZImage(b, w, c, half));
}

function buildZImage(b: GraphBuilder, w: WeightSource, c: ZImageConfig, half: boolean): void {
  const D = c.hidden;
  const F = c.headDim / 2;
  const dit = ditLayers(b, c, { half });
  const { toCompute, toFloat32 } = dit;
  const lin = (x: string, name: string, bias = true) => linear(b, w, x, name, { bias });
  const norm = (x: string, key: string) => dit.rmsNorm(x, w.value(key), NORM_EPS);
  const plusOne = (x: string) => b.op('Add', [x, b.constF(1)]);

  const hidden = b.input('hidden_states', 'float32', [1, 'image_tokens', c.inChannels]);
  const context = b.input('encoder_hidden_states', 'float32', [1, 'text_tokens', c.capDim]);
  const timestep = b.input('timestep', 'float32', [1]);
  const imgIds = b.input('img_ids', 'float32', ['image_tokens', 3]);
  const txtIds = b.input('txt_ids', 'float32', ['text_tokens', 3]);
  const omega = b.input('rope_omega', 'float32', [F]);
  const mscale = b.input('rope_mscale', 'float32', [F]);

  // ---- Pad rows: (−len) mod 32 of each sequence, as int64 [1].
  const length = (x: string, hint: string) => b.op('Shape', [x], { start: 1, end: 2 }, { name: hint });
  const padCount = (len: string) => {
    const multiple = b.constI64([ZIMAGE_DEFAULTS.padMultiple]);
    return b.op('Mod', [b.op('Sub', [multiple, b.op('Mod', [len, multiple])]), multiple], {}, { name: 'pad_rows' });
  };
  const imageLen = length(hidden, 'image_len');
  const textLen = length(context, 'text_len');
  const imagePad = padCount(imageLen);
  const textPad = padCount(textLen);
  const textTotal = b.op('Add', [textLen, textPad], {}, { name: 'text_rows' });
  const imageTotal = b.op('Add', [imageLen, imagePad], {}, { name: 'image_rows' });
  /** `count` copies of a [1, width] row. */
  const repeatRow = (row: string, count: string, width: number) => b.op('Expand', [row, b.op('Concat', [count, b.constI64([width])], { axis: 0 })], {}, { name: 'pad' });

  // ---- adaln [1, A]: the timestep embedding of t (×1000 inside the sinusoid).
  const adaln = b.scope('t_embedder', () => lin(silu(b, lin(dit.sinusoid(timestep, c.timeDim), 't_embedder.mlp.0')), 't_embedder.mlp.2'));

  // ---- Image rows [N + pad, D]: FLUX's (channel, row, column) patch features → Z-Image's (row, column, channel).
  let img = b.scope('x_embedder', () => {
    const perToken = b.op('Reshape', [hidden, b.constI64([-1, c.inChannels / PATCH_AREA, PATCH_AREA])]);
    const patches = toCompute(b.op('Reshape', [b.op('Transpose', [perToken], { perm: [0, 2, 1] }), b.constI64([-1, c.inChannels])], {}, { name: 'patches' }));
    return b.op('Concat', [lin(patches, 'x_embedder'), repeatRow(w.value('x_pad_token'), imagePad, D)], { axis: 0 }, { name: 'image_rows' });
  });
  // ---- Caption rows [L + pad, D].
  let cap = b.scope('cap_embedder', () => {
    const embedded = lin(norm(b.op('Reshape', [context, b.constI64([-1, c.capDim])]), 'cap_embedder.0.weight'), 'cap_embedder.1');
    return b.op('Concat', [embedded, repeatRow(w.value('cap_pad_token'), textPad, D)], { axis: 0 }, { name: 'caption_rows' });
  });

  // ---- RoPE over [caption rows, image rows]: caption pad rows go on counting (L + 1 + k, 0, 0), image pad rows sit at (0, 0, 0).
  // Ids and angles stay float32 in the float16 graph (dit.rope hands back cos/sin in the compute type).
  const [cos, sin] = b.scope('ids', () => b.withFloat('float32', () => {
    const scalar = (x: string) => b.op('Cast', [b.op('Squeeze', [x, b.constI64([0])])], { to: 1 });
    const first = b.op('Add', [scalar(textLen), b.constF(1)]);
    const counting = b.op('Range', [first, b.op('Add', [first, scalar(textPad)]), b.constF(1)], {}, { name: 'caption_pad_index' });
    const zeros = (count: string, width: number) => repeatRow(b.constF(new Array<number>(width).fill(0), [1, width]), count, width);
    const capPadIds = b.op('Concat', [b.op('Unsqueeze', [counting, b.constI64([1])]), zeros(textPad, 2)], { axis: 1 });
    const ids = b.op('Concat', [txtIds, capPadIds, imgIds, zeros(imagePad, 3)], { axis: 0 }, { name: 'ids' });
    return dit.rope(ids, c.axesDim, omega, mscale);
  }));
  const rows = b.op('Concat', [textTotal, imageTotal], { axis: 0 }, { name: 'sequence_rows' });
  const [capCos, imgCos] = b.opN('Split', [cos, rows], 2, { axis: 0 }, { name: 'cos' });
  const [capSin, imgSin] = b.opN('Split', [sin, rows], 2, { axis: 0 }, { name: 'sin' });

  const block = (group: ZImageBlockGroup, i: number, x: string, rope: [string, string]): string =>
    b.scope(`${group}.${i}`, () => {
      const k = blockKeys(group, i);
      const attention = (h: string) =>
        b.scope('attention', () => {
          const [q, key, v] = dit.chunk(lin(h, k.qkv, false), 3, -1);
          const roped = (x: string, normKey: string) => dit.applyRope(dit.headNorm(x, w.value(normKey), NORM_EPS), rope[0], rope[1]);
          return lin(dit.attention(roped(q, k.qNorm), roped(key, k.kNorm), v), k.out, false);
        });
      const feedForward = (h: string) =>
        b.scope('feed_forward', () => lin(b.op('Mul', [silu(b, lin(h, k.w1, false)), lin(h, k.w3, false)], {}, { name: 'swiglu' }), k.w2, false));
      const residual = (x: string, y: string, gate?: string) => (gate ? dit.gated(x, b.op('Tanh', [gate]), y) : dit.residual(x, y));
      if (!MODULATED[group]) {
        const y = residual(x, norm(attention(norm(x, k.attentionNorm1)), k.attentionNorm2));
        return residual(y, norm(feedForward(norm(y, k.ffnNorm1)), k.ffnNorm2));
      }
      const [scaleMsa, gateMsa, scaleMlp, gateMlp] = dit.chunk(lin(adaln, k.modulation), 4, 1);
      const y = residual(x, norm(attention(b.op('Mul', [norm(x, k.attentionNorm1), plusOne(scaleMsa)])), k.attentionNorm2), gateMsa);
      return residual(y, norm(feedForward(b.op('Mul', [norm(y, k.ffnNorm1), plusOne(scaleMlp)])), k.ffnNorm2), gateMlp);
    });

  for (let i = 0; i < c.blocks.noise_refiner; i++) img = block('noise_refiner', i, img, [imgCos, imgSin]);
  for (let i = 0; i < c.blocks.context_refiner; i++) cap = block('context_refiner', i, cap, [capCos, capSin]);
  // Tongyi puts the image rows first, ComfyUI the caption: attention is the same either way.
  let x = b.op('Concat', [cap, img], { axis: 0 }, { name: 'unified' });
  for (let i = 0; i < c.blocks.layers; i++) x = block('layers', i, x, [cos, sin]);

  b.scope('final_layer', () => {
    const image = b.op('Slice', [x, textTotal, b.op('Add', [textTotal, imageLen]), b.constI64([0])], {}, { name: 'image_tokens' });
    const scale = plusOne(lin(silu(b, adaln), 'final_layer.adaLN_modulation.1'));
    const out = toFloat32(lin(b.op('Mul', [dit.layerNorm(image), scale]), 'final_layer.linear'));
    // back to FLUX's (channel, row, column) patch features, negated: the velocity of the flow.
    const perToken = b.op('Reshape', [out, b.constI64([-1, PATCH_AREA, c.outChannels / PATCH_AREA])]);
    const packed = b.op('Reshape', [b.op('Transpose', [perToken], { perm: [0, 2, 1] }), b.constI64([1, -1, c.outChannels])]);
    b.op('Neg', [packed], {}, { outputs: [FLUX_OUTPUT] });
  });
  b.output(FLUX_OUTPUT, 'float32', [1, 'image_tokens', c.outChannels]);
}
