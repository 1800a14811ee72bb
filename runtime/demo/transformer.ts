/**
 * The miniature FLUX MMDiT of the demo bundle (diffusers' FluxTransformer2DModel structure at toy
 * widths). Graph inputs/outputs follow the optimum FLUX export, plus our DyPE RoPE inputs.
 */
import { GraphBuilder, type SerializedModel } from '../onnx/builder.ts';
import { Net } from './nn.ts';
import type { DemoDims } from './dims.ts';

export interface TransformerOptions {
  ropeInputs: 'omega' | 'tables';
  float16Io: boolean;
  guidance: boolean;
  seed: number;
  /** A FLUX Fill-style transformer: hidden_states also carry the masked-image latent and the mask (runtime/pipeline/fill.ts). */
  fill?: boolean;
}

/** −ln(10000): the sinusoidal embedding's max period, as an exact literal. */
const NEG_LN_10000 = -9.210340371976184;

/** For each rotary frequency, the id column (axis) it reads: axis a contributes axesDim[a]/2. */
export function ropeAxisIndex(axesDim: readonly number[]): number[] {
  return axesDim.flatMap((d, a) => new Array<number>(d / 2).fill(a));
}

/** [dim, dim] matrix R with (x·R) = rotate(x): each interleaved pair (x0, x1) → (−x1, x0). */
function rotationMatrix(dim: number): Float32Array {
  const r = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i += 2) {
    r[(i + 1) * dim + i] = -1; // out[i]   = −x[i+1]
    r[i * dim + i + 1] = 1; //    out[i+1] =  x[i]
  }
  return r;
}

export function buildTransformer(dims: DemoDims, options: TransformerOptions): SerializedModel {
  const b = new GraphBuilder('dype_demo_transformer');
  const nn = new Net(b, options.seed);
  const D = dims.hidden;
  const H = dims.heads;
  const hd = dims.headDim;
  const F = dims.ropeFrequencies;
  const io = options.float16Io ? 'float16' : 'float32';

  /** Declares a float input at the boundary dtype; returns the float32 value used inside. */
  const floatInput = (name: string, shape: (number | string)[]): string => {
    b.input(name, io, shape);
    return options.float16Io ? nn.cast(name, 'float32') : name;
  };

  // FLUX Fill: latent ‖ masked-image latent ‖ mask folded space-to-depth (vaeScale² · patch² channels)
  const inFeatures = options.fill ? 2 * dims.imageFeatures + (dims.vaeScale * dims.patchSize) ** 2 : dims.imageFeatures;
  const hidden = floatInput('hidden_states', [1, 'image_tokens', inFeatures]);
  const context = floatInput('encoder_hidden_states', [1, 'text_tokens', dims.t5Width]);
  const pooled = floatInput('pooled_projections', [1, dims.clipWidth]);
  const timestep = floatInput('timestep', [1]);
  const guidance = options.guidance ? floatInput('guidance', [1]) : null;
  const imgIds = floatInput('img_ids', ['image_tokens', 3]);
  const txtIds = floatInput('txt_ids', ['text_tokens', 3]);

  // ---- RoPE: cos/sin [S, 2F] (text tokens first), each frequency interleave-repeated.
  let cos: string;
  let sin: string;
  if (options.ropeInputs === 'omega') {
    const ids = b.op('Concat', [txtIds, imgIds], { axis: 0 }, { name: 'ids' }); // [S, 3]
    const omega = floatInput('rope_omega', [F]);
    const mscale = floatInput('rope_mscale', [F]);
    [cos, sin] = b.scope('rope', () => {
      const positions = b.op('Gather', [ids, b.constI64(ropeAxisIndex(dims.ropeAxesDim))], { axis: 1 }, { name: 'positions' }); // [S, F]
      const angles = b.op('Mul', [positions, omega], {}, { name: 'angles' });
      const interleave = (x: string, hint: string): string => {
        const u = b.op('Unsqueeze', [x, b.constI64([-1])]); // [S, F, 1]
        const pair = b.op('Concat', [u, u], { axis: -1 }); // [S, F, 2]
        return b.op('Reshape', [pair, b.constI64([-1, 2 * F])], {}, { name: hint }); // [S, 2F]
      };
      return [interleave(b.op('Mul', [b.op('Cos', [angles]), mscale]), 'cos'), interleave(b.op('Mul', [b.op('Sin', [angles]), mscale]), 'sin')];
    });
  } else {
    cos = floatInput('rope_cos', ['sequence', 2 * F]);
    sin = floatInput('rope_sin', ['sequence', 2 * F]);
    // img_ids/txt_ids stay declared (and fed) but unused: the tables already encode positions.
  }
  const rotation = b.initFloat('rope.rotation', rotationMatrix(2 * F), [2 * F, 2 * F]);
  const applyRope = (x: string): string =>
    b.op('Add', [b.op('Mul', [x, cos]), b.op('Mul', [b.op('MatMul', [x, rotation]), sin])], {}, { name: 'roped' });

  // ---- Sequence lengths, for splitting the joint sequence back into text and image.
  const textLen = b.op('Shape', [context], { start: 1, end: 2 }, { name: 'text_len' });
  const imageLen = b.op('Shape', [hidden], { start: 1, end: 2 }, { name: 'image_len' });
  const splitSizes = b.op('Concat', [textLen, imageLen], { axis: 0 }, { name: 'split_sizes' });

  // ---- Conditioning embedding temb [1, D].
  const sinusoid = (x: string, hint: string): string =>
    b.scope(hint, () => {
      const half = dims.timeChannels / 2;
      const freqs = b.op('Exp', [b.op('Mul', [b.constF(Array.from({ length: half }, (_, i) => i)), b.constF(NEG_LN_10000 / half)])]);
      const scaled = b.op('Unsqueeze', [b.op('Mul', [x, b.constF(1000)]), b.constI64([1])]); // [1, 1]
      const args = b.op('Mul', [scaled, freqs]); // [1, half]
      return b.op('Concat', [b.op('Cos', [args]), b.op('Sin', [args])], { axis: 1 }, { name: 'proj' }); // flip_sin_to_cos
    });
  const mlp2 = (x: string, inF: number, hint: string): string =>
    b.scope(hint, () => nn.linear(nn.silu(nn.linear(x, inF, D, 'linear_1')), D, D, 'linear_2'));
  let temb = b.op('Add', [mlp2(sinusoid(timestep, 'time_proj'), dims.timeChannels, 'timestep_embedder'), mlp2(pooled, dims.clipWidth, 'text_embedder')]);
  if (guidance) temb = b.op('Add', [temb, mlp2(sinusoid(guidance, 'guidance_proj'), dims.timeChannels, 'guidance_embedder')], {}, { name: 'temb' });
  const tembAct = nn.silu(temb);

  // ---- Shared pieces.
  const modulation = (count: number, hint: string): string[] =>
    b.opN('Split', [nn.linear(tembAct, D, count * D, hint)], count, { axis: 1 }, { name: `${hint}.chunk` });
  const modulate = (x: string, shift: string, scale: string): string =>
    b.op('Add', [b.op('Mul', [nn.layerNorm(x, D, 'norm'), b.op('Add', [scale, b.constF(1)])]), shift], {}, { name: 'modulated' });
  const gatedAdd = (x: string, gate: string, y: string): string => b.op('Add', [x, b.op('Mul', [gate, y])], {}, { name: 'residual' });
  const toHeads = (x: string): string =>
    b.op('Transpose', [b.op('Reshape', [x, b.constI64([1, -1, H, hd])])], { perm: [0, 2, 1, 3] }, { name: 'heads' }); // [1,H,S,hd]
  const qkv = (x: string, names: [string, string, string, string, string]): [string, string, string] => {
    const [q, k, v, nq, nk] = names;
    return [
      nn.rmsNorm(toHeads(nn.linear(x, D, D, q)), hd, nq),
      nn.rmsNorm(toHeads(nn.linear(x, D, D, k)), hd, nk),
      toHeads(nn.linear(x, D, D, v)),
    ];
  };
  const attention = (q: string, k: string, v: string): string =>
    b.scope('sdpa', () => {
      const qs = b.op('Mul', [applyRope(q), b.constF(1 / Math.sqrt(hd))]);
      const kt = b.op('Transpose', [applyRope(k)], { perm: [0, 1, 3, 2] });
      const probs = b.op('Softmax', [b.op('MatMul', [qs, kt])], { axis: -1 }, { name: 'probs' });
      const o = b.op('Transpose', [b.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] });
      return b.op('Reshape', [o, b.constI64([1, -1, D])], {}, { name: 'out' }); // [1, S, D]
    });
  const feedForward = (x: string, hint: string): string =>
    b.scope(hint, () => nn.linear(nn.geluTanh(nn.linear(x, D, dims.mlpRatio * D, 'proj_in')), dims.mlpRatio * D, D, 'proj_out'));

  // ---- Embedders.
  let img = nn.linear(hidden, inFeatures, D, 'x_embedder');
  let txt = nn.linear(context, dims.t5Width, D, 'context_embedder');

  // ---- Double-stream blocks.
  for (let i = 0; i < dims.doubleBlocks; i++) {
    [img, txt] = b.scope(`transformer_blocks.${i}`, () => {
      const [shI, scI, gI, shMI, scMI, gMI] = b.scope('norm1', () => modulation(6, 'linear'));
      const [shT, scT, gT, shMT, scMT, gMT] = b.scope('norm1_context', () => modulation(6, 'linear'));
      const nImg = b.scope('img', () => modulate(img, shI, scI));
      const nTxt = b.scope('txt', () => modulate(txt, shT, scT));
      const [oTxt, oImg] = b.scope('attn', () => {
        const [qi, ki, vi] = qkv(nImg, ['to_q', 'to_k', 'to_v', 'norm_q', 'norm_k']);
        const [qt, kt, vt] = qkv(nTxt, ['add_q_proj', 'add_k_proj', 'add_v_proj', 'norm_added_q', 'norm_added_k']);
        const cat = (t: string, x: string) => b.op('Concat', [t, x], { axis: 2 }, { name: 'joint' });
        const joint = attention(cat(qt, qi), cat(kt, ki), cat(vt, vi));
        const [jt, ji] = b.opN('Split', [joint, splitSizes], 2, { axis: 1 }, { name: 'split' });
        return [nn.linear(jt, D, D, 'to_add_out'), nn.linear(ji, D, D, 'to_out.0')];
      });
      let x = gatedAdd(img, gI, oImg);
      x = gatedAdd(x, gMI, feedForward(b.scope('img2', () => modulate(x, shMI, scMI)), 'ff'));
      let c = gatedAdd(txt, gT, oTxt);
      c = gatedAdd(c, gMT, feedForward(b.scope('txt2', () => modulate(c, shMT, scMT)), 'ff_context'));
      return [x, c];
    });
  }

  // ---- Single-stream blocks over concat(text, image).
  let h = b.op('Concat', [txt, img], { axis: 1 }, { name: 'joint_stream' });
  for (let i = 0; i < dims.singleBlocks; i++) {
    h = b.scope(`single_transformer_blocks.${i}`, () => {
      const [shift, scale, gate] = b.scope('norm', () => modulation(3, 'linear'));
      const n = modulate(h, shift, scale);
      const mlp = nn.geluTanh(nn.linear(n, D, dims.mlpRatio * D, 'proj_mlp'));
      const attn = b.scope('attn', () => {
        const [q, k, v] = qkv(n, ['to_q', 'to_k', 'to_v', 'norm_q', 'norm_k']);
        return attention(q, k, v);
      });
      const out = nn.linear(b.op('Concat', [attn, mlp], { axis: -1 }), (1 + dims.mlpRatio) * D, D, 'proj_out');
      return gatedAdd(h, gate, out);
    });
  }
  const imageStream = b.opN('Split', [h, splitSizes], 2, { axis: 1 }, { name: 'split_final' })[1];

  // ---- AdaLayerNormContinuous + proj_out on the image tokens.
  const [scale, shift] = b.scope('norm_out', () => modulation(2, 'linear'));
  const normed = b.scope('norm_out', () => modulate(imageStream, shift, scale));
  const outName = 'out_hidden_states';
  if (options.float16Io) {
    nn.cast(nn.linear(normed, D, dims.imageFeatures, 'proj_out'), 'float16', outName);
  } else {
    nn.linear(normed, D, dims.imageFeatures, 'proj_out', { out: outName });
  }
  b.output(outName, io, [1, 'image_tokens', dims.imageFeatures]);

  return b.serialize({
    opset: 17,
    producerName: 'dype-demo',
    docString: 'Untrained miniature FLUX-style MMDiT (demo bundle); deterministic seeded weights.',
    externalData: { location: 'model.onnx_data', threshold: 1024 },
  });
}
