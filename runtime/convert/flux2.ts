/**
 * The FLUX.2 transformer ([klein] 4B and 9B) from BFL's keys, as ComfyUI's diffusion-model file
 * has them (no prefix), every size derived from tensor shapes, and the DyPE-ready graph.
 *
 * It follows BFL's flux2 src/flux2/model.py. Against FLUX.1 (flux.ts):
 * - no Linear has a bias; there is no pooled-text (vector) embedder, and klein no guidance embedder;
 * - the adaLN modulation is computed once for all blocks: `double_stream_modulation_img/txt`
 *   (shift, scale, gate twice) and `single_stream_modulation` (shift, scale, gate);
 * - MLPs are SwiGLU (silu(a)·b of the two halves of a 2·mlp-wide Linear);
 * - RoPE has 4 axes (t, h, w, l) with θ 2000: image tokens sit at (t, row, col, 0), text tokens at
 *   (0, 0, 0, l). DyPE's ω/mscale come in for all four; the family scales only h and w.
 */
import type { GraphBuilder } from '../onnx/builder.ts';
import { silu } from '../onnx/ops.ts';
import { ditLayers, inPrecision, type DitGraphOptions } from './dit.ts';
import { countIndexed, linear, shapeOf } from './layers.ts';
import { MissingTensorError, type WeightSource } from './weights.ts';

/** FLUX.2's RoPE: θ and the four equal axes are not in any shape (BFL Flux2Params). */
export const FLUX2_ROPE = Object.freeze({ theta: 2000, axes: 4 });
/** Width of the sinusoidal timestep embedding (time_in's input). */
const TIME_DIM = 256;

export interface Flux2Config {
  hidden: number;
  heads: number;
  headDim: number;
  /** SwiGLU width (hidden · mlp_ratio 3). */
  mlpHidden: number;
  /** Features per image token: the VAE's latent channels × 2×2 patch (128 for FLUX.2). */
  inChannels: number;
  /** Text width: Qwen3's width × 3 hidden states (7680 for klein 4B). */
  contextDim: number;
  depth: number;
  depthSingle: number;
  /** FLUX.2 [dev] has a guidance embedding; klein has none. */
  guidance: boolean;
  axesDim: number[];
  theta: number;
}

/** Every tensor of the model and its shape (PyTorch Linear weights are [out, in]). */
export function flux2Shapes(c: Flux2Config): Map<string, number[]> {
  const D = c.hidden;
  const M = c.mlpHidden;
  const shapes = new Map<string, number[]>([
    ['img_in.weight', [D, c.inChannels]],
    ['txt_in.weight', [D, c.contextDim]],
    ['time_in.in_layer.weight', [D, TIME_DIM]],
    ['time_in.out_layer.weight', [D, D]],
    ['double_stream_modulation_img.lin.weight', [6 * D, D]],
    ['double_stream_modulation_txt.lin.weight', [6 * D, D]],
    ['single_stream_modulation.lin.weight', [3 * D, D]],
    ['final_layer.adaLN_modulation.1.weight', [2 * D, D]],
    ['final_layer.linear.weight', [c.inChannels, D]],
  ]);
  if (c.guidance) {
    shapes.set('guidance_in.in_layer.weight', [D, TIME_DIM]);
    shapes.set('guidance_in.out_layer.weight', [D, D]);
  }
  for (let i = 0; i < c.depth; i++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${i}.${s}_`;
      shapes.set(`${p}attn.qkv.weight`, [3 * D, D]);
      shapes.set(`${p}attn.norm.query_norm.scale`, [c.headDim]);
      shapes.set(`${p}attn.norm.key_norm.scale`, [c.headDim]);
      shapes.set(`${p}attn.proj.weight`, [D, D]);
      shapes.set(`${p}mlp.0.weight`, [2 * M, D]);
      shapes.set(`${p}mlp.2.weight`, [D, M]);
    }
  }
  for (let i = 0; i < c.depthSingle; i++) {
    const p = `single_blocks.${i}.`;
    shapes.set(`${p}linear1.weight`, [3 * D + 2 * M, D]);
    shapes.set(`${p}linear2.weight`, [D, D + M]);
    shapes.set(`${p}norm.query_norm.scale`, [c.headDim]);
    shapes.set(`${p}norm.key_norm.scale`, [c.headDim]);
  }
  return shapes;
}

/** Sizes from shapes; every tensor the graph will read is checked to exist with the expected shape. */
export function deriveFlux2Config(w: WeightSource): Flux2Config {
  const matrix = (key: string) => shapeOf(w, key, [null, null]);
  const [hidden, inChannels] = matrix('img_in.weight');
  const [, contextDim] = matrix('txt_in.weight');
  const [headDim] = shapeOf(w, 'double_blocks.0.img_attn.norm.query_norm.scale', [null]);
  const [, mlpHidden] = matrix('double_blocks.0.img_mlp.2.weight');
  if (hidden % headDim !== 0) throw new Error(`${w.origin}: hidden width ${hidden} is not a multiple of the head dim ${headDim}`);
  const axis = headDim / FLUX2_ROPE.axes;
  if (!Number.isInteger(axis) || axis % 2) throw new Error(`${w.origin}: head dim ${headDim} does not split into ${FLUX2_ROPE.axes} even RoPE axes`);
  const config: Flux2Config = {
    hidden,
    heads: hidden / headDim,
    headDim,
    mlpHidden,
    inChannels,
    contextDim,
    depth: countIndexed(w, 'double_blocks.'),
    depthSingle: countIndexed(w, 'single_blocks.'),
    guidance: w.has('guidance_in.in_layer.weight'),
    axesDim: new Array<number>(FLUX2_ROPE.axes).fill(axis),
    theta: FLUX2_ROPE.theta,
  };
  if (config.depth === 0) throw new MissingTensorError(w.origin, 'double_blocks.0.img_attn.qkv.weight', 'no double-stream blocks');
  for (const [key, shape] of flux2Shapes(config)) shapeOf(w, key, shape);
  return config;
}

export const FLUX2_OUTPUT = 'out_hidden_states';

/**
 * The DyPE-ready FLUX.2 transformer graph over `w`'s weights: hidden_states [1, N, in],
 * encoder_hidden_states [1, T, ctx], timestep [1] (σ; ×1000 inside, like BFL), guidance [1] (only
 * with a guidance embedding), img_ids [N, 4], txt_ids [T, 4], rope_omega and rope_mscale
 * [Σ axesDim / 2] → out_hidden_states [1, N, in] (the velocity). `precision: 'float16'` computes the
 * blocks in float16 with inputs and output float32 (dit.ts DitPrecision).
 */
export function buildFlux2Transformer(b: GraphBuilder, w: WeightSource, c: Flux2Config, options: DitGraphOptions = {}): void {
  inPrecision(b, options, (half) => buildFlux2(b, w, c, half));
}

function buildFlux2(b: GraphBuilder, w: WeightSource, c: Flux2Config, half: boolean): void {
  const D = c.hidden;
  const M = c.mlpHidden;
  const axes = c.axesDim.length;
  const lin = (x: string, name: string) => linear(b, w, x, name, { bias: false });
  const dit = ditLayers(b, c, { half });
  const { chunk, to2d, modulate, gated, toCompute, toFloat32 } = dit;

  const hidden = b.input('hidden_states', 'float32', [1, 'image_tokens', c.inChannels]);
  const context = b.input('encoder_hidden_states', 'float32', [1, 'text_tokens', c.contextDim]);
  const timestep = b.input('timestep', 'float32', [1]);
  const guidance = c.guidance ? b.input('guidance', 'float32', [1]) : null;
  const imgIds = b.input('img_ids', 'float32', ['image_tokens', axes]);
  const txtIds = b.input('txt_ids', 'float32', ['text_tokens', axes]);
  const omega = b.input('rope_omega', 'float32', [c.headDim / 2]);
  const mscale = b.input('rope_mscale', 'float32', [c.headDim / 2]);

  const [cos, sin] = dit.rope(b.op('Concat', [txtIds, imgIds], { axis: 0 }, { name: 'ids' }), c.axesDim, omega, mscale);
  const applyRope = (x: string) => dit.applyRope(x, cos, sin);
  const headNorm = (x: string, key: string) => dit.headNorm(x, w.value(key));
  const splitSizes = dit.splitSizes(context, hidden);
  const swiglu = (x: string) => {
    const [a, gate] = chunk(x, 2, -1);
    return b.op('Mul', [silu(b, a), gate], {}, { name: 'swiglu' });
  };

  // ---- vec [1, D] from the timestep (and guidance), then every modulation once.
  const mlpEmbedder = (x: string, prefix: string) => lin(silu(b, lin(x, `${prefix}.in_layer`)), `${prefix}.out_layer`);
  let vec = b.scope('time_in', () => mlpEmbedder(dit.sinusoid(timestep, TIME_DIM), 'time_in'));
  if (guidance) vec = b.op('Add', [vec, b.scope('guidance_in', () => mlpEmbedder(dit.sinusoid(guidance, TIME_DIM), 'guidance_in'))], {}, { name: 'vec' });
  const vecAct = silu(b, vec);
  const modulation = (name: string, count: number): string[] => b.scope(name, () => chunk(lin(vecAct, name), count, 1));
  const modImg = modulation('double_stream_modulation_img.lin', 6);
  const modTxt = modulation('double_stream_modulation_txt.lin', 6);
  const [shift, scale, gate] = modulation('single_stream_modulation.lin', 3);

  let img = b.scope('img_in', () => lin(toCompute(to2d(hidden, c.inChannels)), 'img_in'));
  let txt = b.scope('txt_in', () => lin(toCompute(to2d(context, c.contextDim)), 'txt_in'));

  for (let i = 0; i < c.depth; i++) {
    [img, txt] = b.scope(`double_blocks.${i}`, () => {
      const prepare = (s: 'img' | 'txt', x: string, mod: string[]) =>
        b.scope(s, () => {
          const p = `double_blocks.${i}.${s}_`;
          const [q, k, v] = chunk(lin(modulate(x, mod[0], mod[1]), `${p}attn.qkv`), 3, -1);
          return { x, p, mod, q: headNorm(q, `${p}attn.norm.query_norm.scale`), k: headNorm(k, `${p}attn.norm.key_norm.scale`), v };
        });
      const im = prepare('img', img, modImg);
      const tx = prepare('txt', txt, modTxt);
      const joint = (key: 'q' | 'k' | 'v') => b.op('Concat', [tx[key], im[key]], { axis: 0 });
      const attn = dit.attention(applyRope(joint('q')), applyRope(joint('k')), joint('v'));
      const [attnTxt, attnImg] = b.opN('Split', [attn, splitSizes], 2, { axis: 0 }, { name: 'split' });
      const finish = (tag: string, { x, p, mod }: typeof im, attn: string) =>
        b.scope(tag, () => {
          const y = gated(x, mod[2], lin(attn, `${p}attn.proj`));
          return gated(y, mod[5], lin(swiglu(lin(modulate(y, mod[3], mod[4]), `${p}mlp.0`)), `${p}mlp.2`));
        });
      return [finish('img', im, attnImg), finish('txt', tx, attnTxt)];
    });
  }

  let x = b.op('Concat', [txt, img], { axis: 0 }, { name: 'joint_stream' });
  for (let i = 0; i < c.depthSingle; i++) {
    const p = `single_blocks.${i}.`;
    x = b.scope(`single_blocks.${i}`, () => {
      const widths = b.constI64([D, D, D, 2 * M]);
      const [q, k, v, mlp] = b.opN('Split', [lin(modulate(x, shift, scale), `${p}linear1`), widths], 4, { axis: -1 }, { name: 'qkv_mlp' });
      const attn = dit.attention(applyRope(headNorm(q, `${p}norm.query_norm.scale`)), applyRope(headNorm(k, `${p}norm.key_norm.scale`)), v);
      return gated(x, gate, lin(b.op('Concat', [attn, swiglu(mlp)], { axis: -1 }), `${p}linear2`));
    });
  }

  const image = b.opN('Split', [x, splitSizes], 2, { axis: 0 }, { name: 'split_final' })[1];
  b.scope('final_layer', () => {
    const [finalShift, finalScale] = chunk(lin(vecAct, 'final_layer.adaLN_modulation.1'), 2, 1);
    const out = toFloat32(lin(modulate(image, finalShift, finalScale), 'final_layer.linear'));
    b.op('Unsqueeze', [out, b.constI64([0])], {}, { outputs: [FLUX2_OUTPUT] });
  });
  b.output(FLUX2_OUTPUT, 'float32', [1, 'image_tokens', c.inChannels]);
}

/** Which published FLUX.2 model a transformer is, by its sizes, and the licence it comes under. */
export interface Flux2Variant {
  readonly name: string;
  readonly licence: string;
  /** False where the licence forbids commercial use. */
  readonly commercial: boolean;
}

/**
 * klein 4B (width 3072, Qwen3-4B's 3 × 2560 text) is Apache-2.0; klein 9B (Qwen3-8B's 3 × 4096 text)
 * has the same architecture under the FLUX Non-Commercial License, as has FLUX.2 [dev] (width 6144).
 * Other sizes (test models, fine-tunes of other shapes) are named by their sizes, licence unknown.
 */
export function flux2Variant(c: Pick<Flux2Config, 'hidden' | 'contextDim' | 'depth' | 'depthSingle'>): Flux2Variant {
  if (c.hidden === 3072 && c.contextDim === 7680) return { name: 'FLUX.2 [klein] 4B', licence: 'Apache-2.0', commercial: true };
  if (c.contextDim === 12288) return { name: 'FLUX.2 [klein] 9B', licence: 'FLUX Non-Commercial License', commercial: false };
  if (c.hidden === 6144) return { name: 'FLUX.2 [dev]', licence: 'FLUX [dev] Non-Commercial License', commercial: false };
  return { name: `FLUX.2 (width ${c.hidden}, ${c.depth} + ${c.depthSingle} blocks)`, licence: 'unknown: check the model card', commercial: false };
}
