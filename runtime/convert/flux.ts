/**
 * The FLUX.1 transformer from its checkpoint: key names (BFL's or diffusers'), every size derived
 * from tensor shapes, and the DyPE-ready graph.
 *
 * The graph follows BFL's src/flux/model.py and modules/layers.py (Flux, DoubleStreamBlock,
 * SingleStreamBlock, LastLayer) and takes the bundle contract's inputs: RoPE comes in as
 * rope_omega/rope_mscale (runtime/dype), and attention is com.microsoft.MultiHeadAttention, so the
 * seq² score matrix of a 4096² image never exists in the graph.
 */
import { FLUX_DEFAULTS } from '../bundle/flux1.ts';
import type { GraphBuilder } from '../onnx/builder.ts';
import { geluTanh, silu } from '../onnx/ops.ts';
import { ditLayers, inPrecision, type DitGraphOptions } from './dit.ts';
import { countIndexed, linear, shapeOf } from './layers.ts';
import { MissingTensorError, type WeightSource } from './weights.ts';

/** Where each part of the model lives in the checkpoint, for one naming scheme. */
export interface FluxNaming {
  readonly kind: 'bfl' | 'diffusers';
  readonly imgIn: string;
  readonly txtIn: string;
  readonly timeIn: readonly [string, string];
  readonly vectorIn: readonly [string, string];
  readonly guidanceIn: readonly [string, string];
  readonly finalModulation: string;
  /** Chunk order of the final modulation: BFL stores shift then scale; diffusers swapped them. */
  readonly finalOrder: 'shift-scale' | 'scale-shift';
  readonly finalLinear: string;
  readonly doublePrefix: string;
  readonly singlePrefix: string;
  double(i: number): DoubleBlockNames;
  single(i: number): SingleBlockNames;
}

export interface StreamNames {
  modulation: string;
  /** One fused q|k|v Linear, or three. */
  qkv: readonly string[];
  qNorm: string;
  kNorm: string;
  proj: string;
  mlp: readonly [string, string];
}

export interface DoubleBlockNames {
  img: StreamNames;
  txt: StreamNames;
}

export interface SingleBlockNames {
  modulation: string;
  /** One fused q|k|v|mlp Linear (BFL linear1), or four (q, k, v, mlp). */
  qkvMlp: readonly string[];
  qNorm: string;
  kNorm: string;
  out: string;
}

export const BFL_NAMING: FluxNaming = Object.freeze<FluxNaming>({
  kind: 'bfl',
  imgIn: 'img_in',
  txtIn: 'txt_in',
  timeIn: ['time_in.in_layer', 'time_in.out_layer'],
  vectorIn: ['vector_in.in_layer', 'vector_in.out_layer'],
  guidanceIn: ['guidance_in.in_layer', 'guidance_in.out_layer'],
  finalModulation: 'final_layer.adaLN_modulation.1',
  finalOrder: 'shift-scale',
  finalLinear: 'final_layer.linear',
  doublePrefix: 'double_blocks.',
  singlePrefix: 'single_blocks.',
  double: (i) => {
    const stream = (s: 'img' | 'txt'): StreamNames => ({
      modulation: `double_blocks.${i}.${s}_mod.lin`,
      qkv: [`double_blocks.${i}.${s}_attn.qkv`],
      qNorm: `double_blocks.${i}.${s}_attn.norm.query_norm.scale`,
      kNorm: `double_blocks.${i}.${s}_attn.norm.key_norm.scale`,
      proj: `double_blocks.${i}.${s}_attn.proj`,
      mlp: [`double_blocks.${i}.${s}_mlp.0`, `double_blocks.${i}.${s}_mlp.2`],
    });
    return { img: stream('img'), txt: stream('txt') };
  },
  single: (i) => ({
    modulation: `single_blocks.${i}.modulation.lin`,
    qkvMlp: [`single_blocks.${i}.linear1`],
    qNorm: `single_blocks.${i}.norm.query_norm.scale`,
    kNorm: `single_blocks.${i}.norm.key_norm.scale`,
    out: `single_blocks.${i}.linear2`,
  }),
});

export const DIFFUSERS_NAMING: FluxNaming = Object.freeze<FluxNaming>({
  kind: 'diffusers',
  imgIn: 'x_embedder',
  txtIn: 'context_embedder',
  timeIn: ['time_text_embed.timestep_embedder.linear_1', 'time_text_embed.timestep_embedder.linear_2'],
  vectorIn: ['time_text_embed.text_embedder.linear_1', 'time_text_embed.text_embedder.linear_2'],
  guidanceIn: ['time_text_embed.guidance_embedder.linear_1', 'time_text_embed.guidance_embedder.linear_2'],
  finalModulation: 'norm_out.linear',
  finalOrder: 'scale-shift',
  finalLinear: 'proj_out',
  doublePrefix: 'transformer_blocks.',
  singlePrefix: 'single_transformer_blocks.',
  double: (i) => {
    const p = `transformer_blocks.${i}.`;
    return {
      img: {
        modulation: `${p}norm1.linear`,
        qkv: [`${p}attn.to_q`, `${p}attn.to_k`, `${p}attn.to_v`],
        qNorm: `${p}attn.norm_q.weight`,
        kNorm: `${p}attn.norm_k.weight`,
        proj: `${p}attn.to_out.0`,
        mlp: [`${p}ff.net.0.proj`, `${p}ff.net.2`],
      },
      txt: {
        modulation: `${p}norm1_context.linear`,
        qkv: [`${p}attn.add_q_proj`, `${p}attn.add_k_proj`, `${p}attn.add_v_proj`],
        qNorm: `${p}attn.norm_added_q.weight`,
        kNorm: `${p}attn.norm_added_k.weight`,
        proj: `${p}attn.to_add_out`,
        mlp: [`${p}ff_context.net.0.proj`, `${p}ff_context.net.2`],
      },
    };
  },
  single: (i) => {
    const p = `single_transformer_blocks.${i}.`;
    return {
      modulation: `${p}norm.linear`,
      qkvMlp: [`${p}attn.to_q`, `${p}attn.to_k`, `${p}attn.to_v`, `${p}proj_mlp`],
      qNorm: `${p}attn.norm_q.weight`,
      kNorm: `${p}attn.norm_k.weight`,
      out: `${p}proj_out`,
    };
  },
});

/** Every size of a FLUX.1 transformer, read from its tensors' shapes. */
export interface FluxConfig {
  naming: FluxNaming['kind'];
  hidden: number;
  heads: number;
  headDim: number;
  mlpHidden: number;
  /** Features per packed image token (latent channels × patch²). */
  inChannels: number;
  outChannels: number;
  /** T5 width (encoder_hidden_states). */
  contextDim: number;
  /** CLIP pooled width (pooled_projections). */
  vecDim: number;
  /** Width of the sinusoidal timestep embedding. */
  timeDim: number;
  depth: number;
  depthSingle: number;
  /** dev (and Krea-dev) have a guidance embedding; schnell has none. */
  guidance: boolean;
  axesDim: number[];
  theta: number;
}

/** FLUX.1's head dim; its RoPE (θ, the split over index, row and column axes) is in no shape, so it comes from FLUX_DEFAULTS. */
const FLUX1_HEAD_DIM = 128;

/**
 * FLUX.1's axes for its head dim of 128; other head dims (the test models) split the same way:
 * one eighth for the index axis, the rest shared by rows and columns.
 */
export function fluxAxesDim(headDim: number): number[] {
  if (headDim === FLUX1_HEAD_DIM) return [...FLUX_DEFAULTS.axesDim];
  const first = headDim / 8;
  const rest = (headDim - first) / 2;
  if (!Number.isInteger(first) || first % 2 || !Number.isInteger(rest) || rest % 2) {
    throw new Error(`head dim ${headDim} does not split into FLUX RoPE axes (even thirds of 1/8, 7/16, 7/16)`);
  }
  return [first, rest, rest];
}

export function namingOf(kind: FluxNaming['kind']): FluxNaming {
  return kind === 'bfl' ? BFL_NAMING : DIFFUSERS_NAMING;
}

/** Sizes from shapes; every tensor the graph will read is checked to exist with the expected shape. */
export function deriveFluxConfig(w: WeightSource, kind: FluxNaming['kind']): FluxConfig {
  const n = namingOf(kind);
  const matrix = (key: string) => shapeOf(w, key, [null, null]);
  const [hidden, inChannels] = matrix(`${n.imgIn}.weight`);
  const [, contextDim] = matrix(`${n.txtIn}.weight`);
  const [, timeDim] = matrix(`${n.timeIn[0]}.weight`);
  const [, vecDim] = matrix(`${n.vectorIn[0]}.weight`);
  const [outChannels] = matrix(`${n.finalLinear}.weight`);
  const firstDouble = n.double(0);
  const [headDim] = shapeOf(w, firstDouble.img.qNorm, [null]);
  const [mlpHidden] = matrix(`${firstDouble.img.mlp[0]}.weight`);
  if (hidden % headDim !== 0) throw new Error(`${w.origin}: hidden width ${hidden} is not a multiple of the head dim ${headDim}`);
  const config: FluxConfig = {
    naming: kind,
    hidden,
    heads: hidden / headDim,
    headDim,
    mlpHidden,
    inChannels,
    outChannels,
    contextDim,
    vecDim,
    timeDim,
    depth: countIndexed(w, n.doublePrefix),
    depthSingle: countIndexed(w, n.singlePrefix),
    guidance: w.has(`${n.guidanceIn[0]}.weight`),
    axesDim: fluxAxesDim(headDim),
    theta: FLUX_DEFAULTS.theta,
  };
  if (config.depth === 0) throw new MissingTensorError(w.origin, `${firstDouble.img.modulation}.weight`, 'no double-stream blocks');
  for (const [key, shape] of expectedShapes(config)) shapeOf(w, key, shape);
  return config;
}

/** Every tensor of the model and its shape (PyTorch Linear weights are [out, in]). */
export function expectedShapes(c: FluxConfig): Map<string, number[]> {
  const n = namingOf(c.naming);
  const D = c.hidden;
  const shapes = new Map<string, number[]>();
  const linear = (name: string, out: number, inF: number) => {
    shapes.set(`${name}.weight`, [out, inF]);
    shapes.set(`${name}.bias`, [out]);
  };
  const split = (names: readonly string[], widths: number[], inF: number) => {
    if (names.length === 1) linear(names[0], widths.reduce((a, b) => a + b, 0), inF);
    else names.forEach((name, k) => linear(name, widths[k], inF));
  };
  linear(n.imgIn, D, c.inChannels);
  linear(n.txtIn, D, c.contextDim);
  linear(n.timeIn[0], D, c.timeDim);
  linear(n.timeIn[1], D, D);
  linear(n.vectorIn[0], D, c.vecDim);
  linear(n.vectorIn[1], D, D);
  if (c.guidance) {
    linear(n.guidanceIn[0], D, c.timeDim);
    linear(n.guidanceIn[1], D, D);
  }
  for (let i = 0; i < c.depth; i++) {
    const block = n.double(i);
    for (const s of [block.img, block.txt]) {
      linear(s.modulation, 6 * D, D);
      split(s.qkv, [D, D, D], D);
      shapes.set(s.qNorm, [c.headDim]);
      shapes.set(s.kNorm, [c.headDim]);
      linear(s.proj, D, D);
      linear(s.mlp[0], c.mlpHidden, D);
      linear(s.mlp[1], D, c.mlpHidden);
    }
  }
  for (let i = 0; i < c.depthSingle; i++) {
    const s = n.single(i);
    linear(s.modulation, 3 * D, D);
    split(s.qkvMlp, [D, D, D, c.mlpHidden], D);
    shapes.set(s.qNorm, [c.headDim]);
    shapes.set(s.kNorm, [c.headDim]);
    linear(s.out, D, D + c.mlpHidden);
  }
  linear(n.finalModulation, 2 * D, D);
  linear(n.finalLinear, c.outChannels, D);
  return shapes;
}

export const FLUX_OUTPUT = 'out_hidden_states';

/**
 * The DyPE-ready FLUX.1 transformer graph over `w`'s weights. Inputs and output follow the bundle
 * contract (runtime/bundle/contract.ts checkContract, FLUX1_CONTRACT): hidden_states [1, N, in], encoder_hidden_states
 * [1, T, ctx], pooled_projections [1, vec], timestep [1] (σ; ×1000 inside, like BFL), guidance [1]
 * (dev only), img_ids [N, 3], txt_ids [T, 3], rope_omega and rope_mscale [Σ axesDim / 2].
 */
export function buildFluxTransformer(b: GraphBuilder, w: WeightSource, c: FluxConfig, options: DitGraphOptions = {}): void {
  inPrecision(b, options, (half) => buildFlux(b, w, c, half));
}

function buildFlux(b: GraphBuilder, w: WeightSource, c: FluxConfig, half: boolean): void {
  const n = namingOf(c.naming);
  const D = c.hidden;
  const lin = (x: string, name: string) => linear(b, w, x, name);
  const dit = ditLayers(b, c, { half });
  const { toCompute, toFloat32 } = dit;
  const { chunk, to2d } = dit;

  const hidden = b.input('hidden_states', 'float32', [1, 'image_tokens', c.inChannels]);
  const context = b.input('encoder_hidden_states', 'float32', [1, 'text_tokens', c.contextDim]);
  const pooled = b.input('pooled_projections', 'float32', [1, c.vecDim]);
  const timestep = b.input('timestep', 'float32', [1]);
  const guidance = c.guidance ? b.input('guidance', 'float32', [1]) : null;
  const imgIds = b.input('img_ids', 'float32', ['image_tokens', 3]);
  const txtIds = b.input('txt_ids', 'float32', ['text_tokens', 3]);
  const omega = b.input('rope_omega', 'float32', [c.headDim / 2]);
  const mscale = b.input('rope_mscale', 'float32', [c.headDim / 2]);

  // ---- RoPE (text tokens first), and the sizes to split the joint sequence back.
  const [cos, sin] = dit.rope(b.op('Concat', [txtIds, imgIds], { axis: 0 }, { name: 'ids' }), c.axesDim, omega, mscale);
  const applyRope = (x: string) => dit.applyRope(x, cos, sin);
  const headNorm = (x: string, key: string) => dit.headNorm(x, w.value(key));
  /** q, k, v [S, D] from one fused Linear or three. */
  const projectQkv = (x: string, names: readonly string[]): string[] =>
    names.length === 1 ? chunk(lin(x, names[0]), 3, -1) : names.map((name) => lin(x, name));
  const splitSizes = dit.splitSizes(context, hidden);

  // ---- vec [1, D]: timestep, guidance and pooled CLIP embeddings.
  const mlpEmbedder = (x: string, names: readonly [string, string]) => lin(silu(b, lin(x, names[0])), names[1]);
  let vec = b.scope('time_in', () => mlpEmbedder(dit.sinusoid(timestep, c.timeDim), n.timeIn));
  if (guidance) vec = b.op('Add', [vec, b.scope('guidance_in', () => mlpEmbedder(dit.sinusoid(guidance, c.timeDim), n.guidanceIn))]);
  vec = b.op('Add', [vec, b.scope('vector_in', () => mlpEmbedder(toCompute(pooled), n.vectorIn))], {}, { name: 'vec' });
  const vecAct = silu(b, vec);

  const modulation = (name: string, count: number): string[] => chunk(lin(vecAct, name), count, 1);
  const { modulate, gated } = dit;

  let img = b.scope('img_in', () => lin(toCompute(to2d(hidden, c.inChannels)), n.imgIn));
  let txt = b.scope('txt_in', () => lin(toCompute(to2d(context, c.contextDim)), n.txtIn));

  for (let i = 0; i < c.depth; i++) {
    const names = n.double(i);
    [img, txt] = b.scope(`double_blocks.${i}`, () => {
      const prepare = (tag: string, x: string, s: StreamNames) =>
        b.scope(tag, () => {
          const mod = modulation(s.modulation, 6);
          const [q, k, v] = projectQkv(modulate(x, mod[0], mod[1]), s.qkv);
          return { x, s, mod, q: headNorm(q, s.qNorm), k: headNorm(k, s.kNorm), v };
        });
      const im = prepare('img', img, names.img);
      const tx = prepare('txt', txt, names.txt);
      const joint = (key: 'q' | 'k' | 'v') => b.op('Concat', [tx[key], im[key]], { axis: 0 });
      const attn = dit.attention(applyRope(joint('q')), applyRope(joint('k')), joint('v'));
      const [attnTxt, attnImg] = b.opN('Split', [attn, splitSizes], 2, { axis: 0 }, { name: 'split' });
      const finish = (tag: string, { x, s, mod }: typeof im, attn: string) =>
        b.scope(tag, () => {
          const y = gated(x, mod[2], lin(attn, s.proj));
          return gated(y, mod[5], lin(geluTanh(b, lin(modulate(y, mod[3], mod[4]), s.mlp[0])), s.mlp[1]));
        });
      return [finish('img', im, attnImg), finish('txt', tx, attnTxt)];
    });
  }

  let x = b.op('Concat', [txt, img], { axis: 0 }, { name: 'joint_stream' });
  for (let i = 0; i < c.depthSingle; i++) {
    const s = n.single(i);
    x = b.scope(`single_blocks.${i}`, () => {
      const [shift, scale, gate] = modulation(s.modulation, 3);
      const normed = modulate(x, shift, scale);
      let q: string, k: string, v: string, mlp: string;
      if (s.qkvMlp.length === 1) {
        const widths = b.constI64([D, D, D, c.mlpHidden]);
        [q, k, v, mlp] = b.opN('Split', [lin(normed, s.qkvMlp[0]), widths], 4, { axis: -1 }, { name: 'qkv_mlp' });
      } else {
        [q, k, v, mlp] = s.qkvMlp.map((name) => lin(normed, name));
      }
      const attn = dit.attention(applyRope(headNorm(q, s.qNorm)), applyRope(headNorm(k, s.kNorm)), v);
      return gated(x, gate, lin(b.op('Concat', [attn, geluTanh(b, mlp)], { axis: -1 }), s.out));
    });
  }

  const image = b.opN('Split', [x, splitSizes], 2, { axis: 0 }, { name: 'split_final' })[1];
  b.scope('final_layer', () => {
    const [first, second] = modulation(n.finalModulation, 2);
    const [shift, scale] = n.finalOrder === 'shift-scale' ? [first, second] : [second, first];
    const out = toFloat32(lin(modulate(image, shift, scale), n.finalLinear));
    b.op('Unsqueeze', [out, b.constI64([0])], {}, { outputs: [FLUX_OUTPUT] });
  });
  b.output(FLUX_OUTPUT, 'float32', [1, 'image_tokens', c.outChannels]);
}
