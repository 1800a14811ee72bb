/**
 * Finding FLUX's in-graph RoPE and turning its baked frequencies into graph inputs.
 *
 * RoPE is recognised by what it computes: per axis, one column of the ids (`img_ids`/`txt_ids`,
 * concatenated; Gather/Slice/Split) times a 1-D constant of d/2 frequencies θ^(−2j/d) (a Constant
 * node or an initializer, any float type, maybe shared by two equal axes, maybe reaching the product
 * through Cast/Unsqueeze/Reshape) — an Einsum outer product with or without ellipsis ("i,j->ij" as
 * diffusers exports, "...n,d->...nd" as BFL's), a broadcasting Mul, or a MatMul [N,1]×[1,d/2] —
 * then Cos and Sin. What follows is layout only, traced to the Concat over axes: interleaved tables
 * (Unsqueeze→Tile/Expand→Flatten/Reshape, or torch's SplitToSequence→Loop→ConcatFromSequence) or
 * BFL's 2×2 rotation matrices (cos, −sin, sin, cos stacked and reshaped). Other constant × input →
 * Sin/Cos paths (the timestep and guidance sinusoids) are told apart by not depending on the ids.
 *
 * The rewrite feeds each axis' product from a slice of a new input `rope_omega` (cast to the
 * constant's dtype, through clones of the constant's own Cast/Unsqueeze chain) and multiplies each
 * Cos/Sin output by the matching slice of a new input `rope_mscale`, before the interleave (which
 * repeats each frequency, so scaling before or after it is the same). Nothing else changes.
 *
 * `bakeRope` builds the self-check's reference instead: the original graph with given frequencies
 * in place of its constants and its cos/sin parts scaled, written independently of the rewrite.
 */
import { create } from '@bufbuild/protobuf';
import { Float16Array } from '@petamoriken/float16';
import { NodeProtoSchema, type NodeProto } from 'onnx-buf';
import { OnnxError } from '../onnx/errors.ts';
import { ImportError } from './errors.ts';
import { GraphIndex, nodeLabel, pruneDead, tensorValues, type OnnxModel } from '../onnx/graph.ts';
import { DataType, attrInt, attrInts, attrString, dtypeName, makeNode, makeTensor, makeValueInfo, valueShape } from '../onnx/proto.ts';

export const IDS_INPUTS = ['img_ids', 'txt_ids'] as const;
export const ROPE_INPUTS = ['rope_omega', 'rope_mscale'] as const;

/** Ops that pass a constant through unchanged in value (dtype or shape only). */
const CONST_CHAIN_OPS = new Set(['Cast', 'Identity', 'Unsqueeze', 'Reshape', 'Squeeze', 'Flatten']);
/** Ops between the ids and a position column, walked back to find the column. */
const POSITION_OPS = new Set(['Cast', 'Identity', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten']);
/** Ops that can form the outer product positions × frequencies. */
const PRODUCT_OPS = new Set(['Einsum', 'Mul', 'MatMul']);
/** Layout ops between Cos/Sin and the Concat over axes: repeat-interleave, 2×2 rotation matrices, dtype casts. */
const LAYOUT_OPS = new Set(['Cast', 'Identity', 'Unsqueeze', 'Squeeze', 'Tile', 'Expand', 'Flatten', 'Reshape', 'Transpose', 'Neg', 'Concat', 'SplitToSequence', 'Loop', 'ConcatFromSequence']);

export interface RopeAxis {
  /** Index into axesDim: the ids column this axis reads. */
  axis: number;
  /** Ids column found by walking back from the product (Gather/Slice/Split), if found. */
  column: number | null;
  /** Position of this axis' Cos in the Concat over axes, if found. */
  concatPosition: number | null;
  /** d/2: length of the frequency constant. */
  frequencies: number;
  theta: number;
  /** Largest relative deviation of the constant from θ^(−2j/d). */
  fitError: number;
  /** Name of the frequency constant (initializer or Constant output). */
  constant: string;
  constantDtype: number;
  constantDims: number[];
  /** The Einsum/Mul/MatMul that forms position × frequency. */
  product: NodeProto;
  form: 'einsum' | 'mul' | 'matmul';
  /** Index of the frequency operand among the product's inputs. */
  freqInput: number;
  /** Nodes from the constant to the product (Cast/Unsqueeze/…), in order. */
  chain: NodeProto[];
  /** The (first) Cos and Sin of the product, for messages. */
  cos: NodeProto;
  sin: NodeProto;
  /** Every Cos and Sin of the product (an exporter without common-subexpression elimination writes several). */
  trig: NodeProto[];
  /** Element type of the Cos/Sin outputs. */
  trigDtype: number;
  /** Ops from Cos to the axis Concat, e.g. Unsqueeze→Tile→Flatten→Cast. */
  interleave: string;
}

export interface RopePattern {
  /** Sorted by axis. */
  axes: RopeAxis[];
  axesDim: number[];
  theta: number;
  /** Sin/Cos nodes not fed by the ids (timestep/guidance sinusoids), left alone. */
  untouched: string[];
}

export type RopeStatus =
  | { kind: 'in-graph'; pattern: RopePattern }
  | { kind: 'dype-inputs' }
  | { kind: 'tables' };

/** An axis before its index is known, with the Concat nodes its Cos and Sin reach (if traced). */
type FoundAxis = Omit<RopeAxis, 'axis'> & { concatNodes: NodeProto[] | null };

interface ConstChain {
  root: string;
  chain: NodeProto[];
}

const fail = (code: 'rope_not_found' | 'rope_ambiguous', lines: string[]): never => {
  throw new ImportError(code, lines.join('\n  '));
};

/** How the graph takes positions: already DyPE inputs, cos/sin tables, or RoPE computed inside. */
export function ropeStatus(index: GraphIndex, modelDir: string): RopeStatus {
  if (ROPE_INPUTS.every((n) => index.inputs.has(n))) return { kind: 'dype-inputs' };
  if (index.inputs.has('rope_cos') && index.inputs.has('rope_sin')) return { kind: 'tables' };
  return { kind: 'in-graph', pattern: findRope(index, modelDir) };
}

/** Finds the ids-fed RoPE frequency computation; throws ImportError naming the candidates otherwise. */
export function findRope(index: GraphIndex, modelDir: string): RopePattern {
  const ids = IDS_INPUTS.filter((n) => index.inputs.has(n));
  if (ids.length === 0) {
    fail('rope_not_found', [`RoPE pattern not found: the transformer has no img_ids/txt_ids inputs (inputs: ${[...index.inputs.keys()].join(', ')})`]);
  }
  const fromIds = index.forwardClosure(ids);
  const trig = index.graph.node.filter((n) => n.opType === 'Cos' || n.opType === 'Sin');
  const untouched: NodeProto[] = [];
  const unsupported: string[] = [];
  const groups = new Map<NodeProto, { cos: NodeProto[]; sin: NodeProto[] }>();
  for (const t of trig) {
    const angleValue = skipBack(index, t.input[0], new Set(['Cast', 'Identity']));
    if (!fromIds.has(angleValue)) {
      untouched.push(t);
      continue;
    }
    const product = index.producer.get(angleValue);
    if (!product || !PRODUCT_OPS.has(product.opType)) {
      unsupported.push(`${nodeLabel(t)} is fed by the ids, but its argument comes from ${product ? nodeLabel(product) : `input ${angleValue}`}, not an Einsum/Mul/MatMul with a frequency constant`);
      continue;
    }
    const group = groups.get(product) ?? { cos: [], sin: [] };
    (t.opType === 'Cos' ? group.cos : group.sin).push(t);
    groups.set(product, group);
  }

  const describeTrig = () =>
    trig.length ? trig.map((t) => `${nodeLabel(t)} ← ${describeSource(index, t.input[0], fromIds)}`) : ['(the graph has no Sin/Cos nodes)'];
  if (groups.size === 0 && unsupported.length === 0) {
    fail('rope_not_found', [
      'RoPE pattern not found: no Sin/Cos node is fed by img_ids/txt_ids through a constant-frequency Einsum/Mul.',
      'Sin/Cos nodes seen:',
      ...describeTrig(),
    ]);
  }
  if (unsupported.length) fail('rope_not_found', ['RoPE pattern not recognised:', ...unsupported]);

  const columns = idsColumnCount(index, ids);
  const axes: FoundAxis[] = [];
  const problems: string[] = [];
  for (const [product, group] of groups) {
    if (group.cos.length === 0 || group.sin.length === 0) {
      problems.push(`${nodeLabel(product)} feeds ${group.cos.length} Cos and ${group.sin.length} Sin nodes (${[...group.cos, ...group.sin].map(nodeLabel).join(', ')}); RoPE needs both`);
      continue;
    }
    try {
      axes.push(analyzeProduct(index, modelDir, product, group.cos, group.sin, fromIds, columns));
    } catch (error) {
      if (!(error instanceof ImportError || error instanceof OnnxError)) throw error; // OnnxError: an unreadable constant
      problems.push(error.message);
    }
  }
  if (problems.length) fail('rope_not_found', ['RoPE pattern not recognised:', ...problems]);
  traceAxisConcats(index, axes).forEach((entries, k) => {
    if (!entries) return;
    const positions = new Set(entries.map((e) => e.position));
    axes[k].concatPosition = positions.size === 1 ? entries[0].position : null;
    axes[k].concatNodes = [...new Set(entries.map((e) => e.concat))];
    axes[k].interleave = entries[0].ops.join('→') || '(none)';
  });
  return assignAxes(axes, untouched.map(nodeLabel));
}

function skipBack(index: GraphIndex, value: string, ops: ReadonlySet<string>): string {
  for (let p = index.producer.get(value); p && ops.has(p.opType); p = index.producer.get(value)) value = p.input[0];
  return value;
}

/** For error messages: the graph inputs a value depends on. */
function describeSource(index: GraphIndex, value: string, fromIds: ReadonlySet<string>): string {
  const inputs = new Set<string>();
  const seen = new Set<string>();
  const stack = [value];
  while (stack.length && seen.size < 5000) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (index.inputs.has(v) && !index.initializers.has(v)) inputs.add(v);
    index.producer.get(v)?.input.forEach((i) => i && stack.push(i));
  }
  const from = inputs.size ? `from ${[...inputs].join(', ')}` : 'from constants only';
  return fromIds.has(value) ? `${from} (ids-derived)` : from;
}

function idsColumnCount(index: GraphIndex, ids: readonly string[]): number | null {
  const shape = valueShape(index.inputs.get(ids[0]));
  const last = shape?.[shape.length - 1];
  return typeof last === 'number' ? last : null;
}

function constChain(index: GraphIndex, value: string): ConstChain | null {
  const chain: NodeProto[] = [];
  while (!index.isConstant(value)) {
    const p = index.producer.get(value);
    if (!p || !CONST_CHAIN_OPS.has(p.opType) || !p.input.slice(1).every((i) => !i || index.isConstant(i))) return null;
    chain.unshift(p);
    value = p.input[0];
  }
  return { root: value, chain };
}

/** Shape after a Cast/Unsqueeze/Reshape/… chain, or null when it cannot be followed statically. */
function chainShape(index: GraphIndex, modelDir: string, dims: number[], chain: readonly NodeProto[]): number[] | null {
  let shape = [...dims];
  const ints = (node: NodeProto, attr: string, input: number): number[] | null => {
    const fromAttr = attrInts(node, attr);
    if (fromAttr) return fromAttr;
    const c = node.input[input] ? index.constantValues(node.input[input], modelDir) : undefined;
    return c ? Array.from(c.values) : null;
  };
  for (const node of chain) {
    switch (node.opType) {
      case 'Cast':
      case 'Identity':
        break;
      case 'Unsqueeze': {
        const axes = ints(node, 'axes', 1);
        if (!axes) return null;
        const rank = shape.length + axes.length;
        const sorted = axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
        for (const a of sorted) shape.splice(a, 0, 1);
        break;
      }
      case 'Squeeze': {
        const axes = ints(node, 'axes', 1);
        if (!axes) shape = shape.filter((d) => d !== 1);
        else {
          const drop = new Set(axes.map((a) => (a < 0 ? a + shape.length : a)));
          shape = shape.filter((_, i) => !drop.has(i));
        }
        break;
      }
      case 'Reshape': {
        const target = ints(node, 'shape', 1);
        if (!target) return null;
        const total = shape.reduce((a, b) => a * b, 1);
        const resolved = target.map((d, i) => (d === 0 && !attrInt(node, 'allowzero', 0) ? shape[i] : d));
        const known = resolved.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        shape = resolved.map((d) => (d === -1 ? total / known : d));
        break;
      }
      case 'Flatten': {
        let axis = attrInt(node, 'axis', 1)!;
        if (axis < 0) axis += shape.length;
        shape = [shape.slice(0, axis).reduce((a, b) => a * b, 1), shape.slice(axis).reduce((a, b) => a * b, 1)];
        break;
      }
      default:
        return null;
    }
  }
  return shape;
}

function chainDtype(rootType: number, chain: readonly NodeProto[]): number {
  let type = rootType;
  for (const node of chain) if (node.opType === 'Cast') type = attrInt(node, 'to')!;
  return type;
}

/** Relative tolerance when checking a frequency constant against θ^(−2j/d), by its element type. */
function fitTolerance(type: number): number {
  if (type === DataType.DOUBLE) return 1e-9;
  if (type === DataType.FLOAT16) return 2e-3;
  if (type === DataType.BFLOAT16) return 1.6e-2;
  return 1e-6;
}

/**
 * θ of a frequency vector ω_j ≈ θ^(−j/n) (n = d/2): least squares on log ω, then the roundest
 * nearby value (1, 2, 3 significant digits, integer) that still fits every ω_j within `tolerance`
 * (relative) — float16 constants would otherwise give each axis a slightly different θ.
 */
export function fitTheta(values: ArrayLike<number>, tolerance: number): { theta: number; error: number } {
  const n = values.length;
  let num = 0;
  let den = 0;
  for (let j = 1; j < n; j++) {
    num += (j / n) * Math.log(values[j]);
    den += (j / n) ** 2;
  }
  const estimate = Math.exp(-num / den);
  const deviation = (theta: number) => {
    let error = 0;
    for (let j = 0; j < n; j++) {
      const expected = theta ** (-j / n);
      error = Math.max(error, Math.abs(values[j] - expected) / expected);
    }
    return error;
  };
  const round = (x: number, digits: number) => Number(x.toPrecision(digits));
  for (const theta of [round(estimate, 1), round(estimate, 2), round(estimate, 3), Math.round(estimate)]) {
    const error = deviation(theta);
    if (theta > 1 && error <= tolerance) return { theta, error };
  }
  return { theta: estimate, error: deviation(estimate) };
}

function analyzeProduct(
  index: GraphIndex,
  modelDir: string,
  product: NodeProto,
  cosNodes: NodeProto[],
  sinNodes: NodeProto[],
  fromIds: ReadonlySet<string>,
  columnCount: number | null,
): FoundAxis {
  const [cos, sin] = [cosNodes[0], sinNodes[0]];
  const where = nodeLabel(product);
  const bad = (why: string) => new ImportError('rope_not_found', `${where} (before ${nodeLabel(cos)}/${nodeLabel(sin)}): ${why}`);
  if (product.input.length !== 2) throw bad(`expected two operands, got ${product.input.length}`);
  const candidates = [0, 1].filter((k) => !fromIds.has(product.input[k]) && constChain(index, product.input[k]));
  const freqInput = candidates.length === 1 ? candidates[0] : -1;
  if (freqInput < 0) throw bad('expected one operand to be the ids-derived positions and the other a frequency constant');
  const posInput = 1 - freqInput;
  if (!fromIds.has(product.input[posInput])) throw bad(`operand ${product.input[posInput]} does not depend on the ids`);
  const { root, chain } = constChain(index, product.input[freqInput])!;
  const constant = index.constantValues(root, modelDir)!;
  const n = constant.values.length;
  if (n < 2) throw bad(`frequency constant ${root} has ${n} value(s); a RoPE axis has at least 2`);

  const form = product.opType === 'Einsum' ? 'einsum' : product.opType === 'MatMul' ? 'matmul' : 'mul';
  if (form === 'einsum') {
    const eq = (attrString(product, 'equation') ?? '').replace(/\s+/g, '');
    if (!isOuterProductEquation(eq, posInput)) {
      throw bad(`Einsum equation "${eq}" is not an outer product positions × frequencies (such as "i,j->ij" or "...n,d->...nd")`);
    }
  } else {
    const shape = chainShape(index, modelDir, constant.dims.length ? constant.dims : [n], chain);
    const row = form === 'matmul' ? shape?.length === 2 && shape[0] === 1 && shape[1] === n : shape && shape[shape.length - 1] === n && shape.every((d, i) => i === shape.length - 1 || d === 1);
    if (!row) {
      const expected = form === 'matmul' ? `[1, ${n}] (a MatMul of [N, 1] positions by a row of frequencies)` : `a row of ${n} frequencies on the last axis`;
      throw bad(`frequency operand of shape [${shape?.join(',') ?? '?'}] is not ${expected}`);
    }
  }

  const tolerance = fitTolerance(constant.dataType);
  const { theta, error } = fitTheta(constant.values, tolerance);
  if (!(theta > 1) || error > tolerance) {
    throw bad(`constant ${root} [${Array.from(constant.values.slice(0, 4), (v) => v.toPrecision(6)).join(', ')}, …] is not θ^(−2j/d) (best θ ${theta.toPrecision(6)}, deviation ${error.toExponential(2)})`);
  }

  let trigDtype = chainDtype(constant.dataType, chain);
  for (let v = cos.input[0], p = index.producer.get(v); p && p !== product; v = p.input[0], p = index.producer.get(v)) {
    if (p.opType === 'Cast') {
      trigDtype = attrInt(p, 'to')!;
      break;
    }
  }
  return {
    column: idsColumn(index, modelDir, product.input[posInput], columnCount),
    concatPosition: null,
    concatNodes: null,
    frequencies: n,
    theta,
    fitError: error,
    constant: root,
    constantDtype: constant.dataType,
    constantDims: constant.dims,
    product,
    form,
    freqInput,
    chain,
    cos,
    sin,
    trig: [...cosNodes, ...sinNodes],
    trigDtype,
    interleave: '(not traced)',
  };
}

/**
 * True when an Einsum equation multiplies each position by each frequency: the frequency operand
 * is one index `d`, and the output is the position operand's indices (any, ellipsis included)
 * followed by `d`: "i,j->ij", "bi,j->bij", "...n,d->...nd".
 */
export function isOuterProductEquation(equation: string, positionOperand: number): boolean {
  const m = /^([a-zA-Z.]+),([a-zA-Z.]+)->([a-zA-Z.]+)$/.exec(equation);
  if (!m) return false;
  const position = m[1 + positionOperand];
  const frequency = m[2 - positionOperand];
  if (!/^[a-zA-Z]$/.test(frequency) || position.includes(frequency)) return false;
  const letters = position.replace('...', '');
  if (!/^[a-zA-Z]*$/.test(letters) || new Set(letters).size !== letters.length || position.split('...').length > 2) return false;
  return m[3] === position + frequency;
}

/** The ids column a position operand reads: Gather/Slice/Split on the (concatenated) ids. */
function idsColumn(index: GraphIndex, modelDir: string, value: string, columnCount: number | null): number | null {
  const v = skipBack(index, value, POSITION_OPS);
  const p = index.producer.get(v);
  if (!p) return null;
  const single = (input: string | undefined): number | null => {
    if (!input) return null;
    const c = index.constantValues(input, modelDir);
    return c && c.values.length === 1 ? c.values[0] : null;
  };
  let column: number | null = null;
  if (p.opType === 'Gather') column = single(p.input[1]);
  else if (p.opType === 'Slice') {
    const start = single(p.input[1]);
    const end = single(p.input[2]);
    if (start !== null && end !== null && (end - start === 1 || (start === -1 && end > 1e9))) column = start;
  } else if (p.opType === 'Split') column = p.output.indexOf(v);
  if (column !== null && column < 0 && columnCount !== null) column += columnCount;
  return column !== null && column >= 0 ? column : null;
}

/** Where one axis' Cos/Sin values enter the Concat over axes, and the ops on the way. */
interface AxisConcatEntry {
  concat: NodeProto;
  position: number;
  /** Op types from the Cos/Sin to the Concat, e.g. Unsqueeze→Tile→Flatten or SplitToSequence→Loop→ConcatFromSequence→Cast. */
  ops: string[];
  /** Element type set by the last Cast on the way, if any. */
  castTo: number | null;
}

/**
 * For each axis (its Cos and Sin), where their values enter the Concat over axes. Follows every
 * layout op between them: repeat-interleave (Unsqueeze→Tile/Expand→Flatten/Reshape, or
 * SplitToSequence→Loop→ConcatFromSequence), BFL's 2×2 rotation matrices (Neg, a Concat of the
 * axis' own cos/−sin/sin/cos, Reshape) and Casts. A Concat whose inputs all come from one axis is
 * part of that axis' layout; the first Concat mixing axes is the Concat over axes. Null for an axis
 * that reaches none.
 */
function traceAxisConcats(index: GraphIndex, axes: readonly { trig: readonly NodeProto[] }[]): (AxisConcatEntry[] | null)[] {
  type Step = { prev: string | null; node: NodeProto | null };
  const reaches = axes.map(({ trig }) => {
    const reach = new Map<string, Step>(trig.map((t) => [t.output[0], { prev: null, node: t }]));
    const pendingConcats = new Set<NodeProto>();
    let frontier = trig.map((t) => t.output[0]);
    for (let round = 0; frontier.length && round < 64; round++) {
      const next: string[] = [];
      for (const value of frontier) {
        for (const node of index.consumersOf(value)) {
          if (!LAYOUT_OPS.has(node.opType)) continue;
          if (node.opType === 'Concat') {
            pendingConcats.add(node);
            continue;
          }
          for (const out of node.output) {
            if (out && !reach.has(out)) {
              reach.set(out, { prev: value, node });
              next.push(out);
            }
          }
        }
      }
      // A Concat joins this axis' layout once every input is this axis' (or a constant).
      for (const concat of pendingConcats) {
        if (!concat.input.every((i) => reach.has(i) || index.isConstant(i))) continue;
        pendingConcats.delete(concat);
        const out = concat.output[0];
        if (!reach.has(out)) {
          reach.set(out, { prev: concat.input.find((i) => reach.has(i))!, node: concat });
          next.push(out);
        }
      }
      frontier = next;
    }
    return { reach, pendingConcats };
  });
  const ownerOf = (value: string) => reaches.findIndex((r) => r.reach.has(value));
  return reaches.map(({ reach, pendingConcats }) => {
    const entries: AxisConcatEntry[] = [];
    for (const concat of pendingConcats) {
      const owners = new Set(concat.input.map(ownerOf));
      if (owners.has(-1) || owners.size < 2) continue;
      concat.input.forEach((input, position) => {
        if (!reach.has(input)) return;
        const ops: string[] = [];
        let castTo: number | null = null;
        for (let v: string | null = input; v !== null; v = reach.get(v)!.prev) {
          const node = reach.get(v)!.node!;
          if (reach.get(v)!.prev === null) break;
          ops.unshift(node.opType);
          if (node.opType === 'Cast' && castTo === null) castTo = attrInt(node, 'to')!;
        }
        entries.push({ concat, position, ops, castTo });
      });
    }
    return entries.length ? entries : null;
  });
}

/** Axis order: the ids column each product reads; else the position in the Concat over axes. */
function assignAxes(found: FoundAxis[], untouched: string[]): RopePattern {
  const label = (a: { product: NodeProto }) => nodeLabel(a.product);
  const isPermutation = (keys: (number | null)[]) => keys.every((k) => k !== null) && new Set(keys).size === keys.length && keys.every((k) => k! < keys.length);

  const concatGroups = new Set(found.map((a) => (a.concatNodes ?? []).map(nodeLabel).join(' / ')));
  if (found.every((a) => a.concatNodes) && concatGroups.size > 1) {
    fail('rope_ambiguous', [
      `RoPE pattern is ambiguous: the ${found.length} ids-fed frequency products feed ${concatGroups.size} separate Concat groups (RoPE computed more than once):`,
      ...found.map((a) => `${label(a)} → ${a.concatNodes!.map(nodeLabel).join(' / ')}`),
    ]);
  }
  const columns = found.map((a) => a.column);
  const positions = found.map((a) => a.concatPosition);
  let keys: number[];
  if (isPermutation(columns)) {
    keys = columns as number[];
    if (isPermutation(positions) && positions.some((p, i) => p !== columns[i])) {
      fail('rope_ambiguous', [
        'RoPE pattern is ambiguous: the ids columns and the Concat order of the axes disagree:',
        ...found.map((a) => `${label(a)}: ids column ${a.column}, concat position ${a.concatPosition}`),
      ]);
    }
  } else if (isPermutation(positions)) {
    keys = positions as number[];
  } else {
    fail('rope_ambiguous', [
      `RoPE pattern is ambiguous: cannot tell which position axis each of the ${found.length} frequency products belongs to:`,
      ...found.map((a) => `${label(a)} (Cos ${nodeLabel(a.cos)}): ids column ${a.column ?? '?'}, concat position ${a.concatPosition ?? '?'}`),
    ]);
  }
  const axes: RopeAxis[] = found
    .map((a, i) => {
      const { concatNodes: _drop, ...rest } = a;
      return { ...rest, axis: keys[i] };
    })
    .sort((a, b) => a.axis - b.axis);
  const theta = axes[0].theta;
  const off = axes.find((a) => Math.abs(a.theta - theta) > 1e-4 * theta);
  if (off) {
    fail('rope_ambiguous', [`RoPE axes use different θ (${axes.map((a) => `${label(a)}: ${a.theta}`).join(', ')}); a bundle has one θ`]);
  }
  return { axes, axesDim: axes.map((a) => 2 * a.frequencies), theta, untouched };
}

/** Where each axis' values start in rope_omega / rope_mscale: axes in order, d/2 values each. */
export function ropeOffsets(pattern: RopePattern): number[] {
  return pattern.axes.map((_, k) => pattern.axes.slice(0, k).reduce((n, a) => n + a.frequencies, 0));
}

/**
 * Which slice of rope_omega / rope_mscale each axis (in `pattern.axes` order) reads. Only tests
 * pass other offsets than {@link ropeOffsets}, to build a mis-wired import the self-check must catch.
 */
export interface RopeSliceOffsets {
  omega: readonly number[];
  mscale: readonly number[];
}

/**
 * Rewrites the graph in place: adds inputs rope_omega / rope_mscale [Σd/2] (float32), feeds every
 * axis' product from its ω slice and scales its Cos/Sin by its mscale slice.
 */
export function rewriteRope(model: OnnxModel, pattern: RopePattern, offsets?: RopeSliceOffsets): void {
  const g = model.graph;
  const index = new GraphIndex(g);
  const taken = ROPE_INPUTS.filter((n) => index.inputs.has(n) || index.producer.has(n) || index.initializers.has(n));
  if (taken.length) throw new ImportError('export_invalid', `${model.path} already uses the name(s) ${taken.join(', ')}`);
  const total = pattern.axes.reduce((n, a) => n + a.frequencies, 0);
  for (const name of ROPE_INPUTS) g.input.push(makeValueInfo(name, DataType.FLOAT, [total]));
  const natural = ropeOffsets(pattern);
  const at = offsets ?? { omega: natural, mscale: natural };

  const prelude: NodeProto[] = [];
  const before = new Map<NodeProto, NodeProto[]>();
  const after = new Map<NodeProto, NodeProto[]>();
  const add = (map: Map<NodeProto, NodeProto[]>, key: NodeProto, node: NodeProto) => map.set(key, [...(map.get(key) ?? []), node]);
  const int64 = (hint: string, values: number[]) => {
    const name = index.unique(hint);
    g.initializer.push(makeTensor(name, DataType.INT64, values));
    return name;
  };
  /** input[offset : offset + n], cast to `type`. */
  const slice = (input: string, offset: number, n: number, type: number, hint: string): string => {
    const out = index.unique(hint);
    prelude.push(makeNode('Slice', [input, int64(`${hint}.start`, [offset]), int64(`${hint}.end`, [offset + n]), int64(`${hint}.axes`, [0])], [out]));
    if (type === DataType.FLOAT) return out;
    const cast = index.unique(`${hint}.${dtypeName(type)}`);
    prelude.push(makeNode('Cast', [out], [cast], { to: type }));
    return cast;
  };

  const replaced: NodeProto[] = [];
  pattern.axes.forEach((axis, k) => {
    const n = axis.frequencies;
    let value = slice('rope_omega', at.omega[k], n, axis.constantDtype, `dype/rope_omega.axis${axis.axis}`);
    if (!(axis.constantDims.length === 1 && axis.constantDims[0] === n)) {
      const out = index.unique(`dype/rope_omega.axis${axis.axis}.reshaped`);
      prelude.push(makeNode('Reshape', [value, int64(`${out}.shape`, axis.constantDims)], [out]));
      value = out;
    }
    // Clone the constant's own Cast/Unsqueeze chain: it may be shared with another axis.
    for (const node of axis.chain) {
      const out = index.unique(`${node.output[0]}/dype`);
      add(before, axis.product, create(NodeProtoSchema, { name: `dype/${out}`, opType: node.opType, domain: node.domain, input: [value, ...node.input.slice(1)], output: [out], attribute: node.attribute }));
      value = out;
    }
    replaced.push(...[...axis.chain].reverse());
    const rootNode = index.producer.get(axis.constant);
    if (rootNode) replaced.push(rootNode);
    axis.product.input[axis.freqInput] = value;

    const mscale = slice('rope_mscale', at.mscale[k], n, axis.trigDtype, `dype/rope_mscale.axis${axis.axis}`);
    for (const trig of axis.trig) {
      const scaled = trig.output[0];
      const raw = index.unique(`${scaled}/unscaled`);
      trig.output[0] = raw;
      add(after, trig, makeNode('Mul', [raw, mscale], [scaled]));
    }
  });
  g.node = [...prelude, ...g.node.flatMap((node) => [...(before.get(node) ?? []), node, ...(after.get(node) ?? [])])];
  pruneDead(g, replaced, pattern.axes.map((a) => a.constant));
}

/** `values` rounded as storing them in `type` does (float32 and narrower; float64 keeps them). */
function roundTo(type: number, values: readonly number[]): number[] {
  if (type === DataType.FLOAT) return values.map(Math.fround);
  if (type === DataType.FLOAT16) return Array.from(Float16Array.from(values));
  if (type === DataType.BFLOAT16) return Array.from(tensorValues(makeTensor('', type, values), ''));
  return [...values];
}

/**
 * The self-check's reference for DyPE settings: the original graph as if natively built with the
 * frequencies `omega` ([Σd/2], axes in order) and the per-axis scale `axisMscale`. Done without
 * any of the rewrite's machinery, so that a mis-wired rewrite cannot hide behind a reference
 * mis-wired the same way: each axis' product reads a new constant holding its ω values as the
 * original constant and its Cast chain would deliver them (rounded through the constant's dtype
 * and every Cast, in the chain's output shape), with offsets taken from the axis' index into
 * axesDim; and each axis' cos/sin part is multiplied by its mscale (a scalar) where it enters the
 * Concat over axes, after the interleave (the Cos/Sin output when that path was not traced).
 * Everything else is unchanged. In place.
 */
export function bakeRope(model: OnnxModel, pattern: RopePattern, omega: ArrayLike<number>, axisMscale: readonly number[]): void {
  const g = model.graph;
  const index = new GraphIndex(g);
  const total = pattern.axesDim.reduce((n, d) => n + d / 2, 0);
  if (omega.length !== total || axisMscale.length !== pattern.axes.length) {
    throw new ImportError('verify_failed', `the reference RoPE needs ${total} frequencies and ${pattern.axes.length} scales, got ${omega.length} and ${axisMscale.length}`);
  }
  const constant = (hint: string, type: number, values: readonly number[], dims: readonly number[]) => {
    const name = index.unique(hint);
    g.initializer.push(makeTensor(name, type, values, dims));
    return name;
  };
  const replaced: NodeProto[] = [];
  const before = new Map<NodeProto, NodeProto[]>();
  const after = new Map<NodeProto, NodeProto[]>();
  const add = (map: Map<NodeProto, NodeProto[]>, key: NodeProto, node: NodeProto) => map.set(key, [...(map.get(key) ?? []), node]);
  // Traced before any edit: where each axis' cos/sin parts enter the Concat over axes.
  const traced = traceAxisConcats(index, pattern.axes);
  pattern.axes.forEach((axis, k) => {
    const n = axis.frequencies;
    const start = pattern.axesDim.slice(0, axis.axis).reduce((sum, d) => sum + d / 2, 0);
    let values = roundTo(axis.constantDtype, Array.from({ length: n }, (_, j) => omega[start + j]));
    for (const node of axis.chain) if (node.opType === 'Cast') values = roundTo(attrInt(node, 'to')!, values);
    const shape = chainShape(index, model.dir, axis.constantDims.length ? axis.constantDims : [n], axis.chain);
    if (!shape && axis.form !== 'einsum') throw new ImportError('verify_failed', `cannot build the reference RoPE: the shape of ${nodeLabel(axis.product)}'s frequency operand is unknown`);
    axis.product.input[axis.freqInput] = constant(`dype/reference.omega.axis${axis.axis}`, chainDtype(axis.constantDtype, axis.chain), values, shape ?? [n]);
    replaced.push(...[...axis.chain].reverse());
    const rootNode = index.producer.get(axis.constant);
    if (rootNode) replaced.push(rootNode);

    const m = axisMscale[axis.axis];
    const entries = traced[k];
    if (entries) {
      for (const entry of entries) {
        const part = entry.concat.input[entry.position];
        const scaled = index.unique(`${part}/reference_mscale`);
        const factor = constant(`dype/reference.mscale.axis${axis.axis}`, entry.castTo ?? axis.trigDtype, [m], []);
        entry.concat.input[entry.position] = scaled;
        add(before, entry.concat, makeNode('Mul', [part, factor], [scaled]));
      }
    } else {
      for (const trig of axis.trig) {
        const out = trig.output[0];
        const raw = index.unique(`${out}/unscaled`);
        trig.output[0] = raw;
        add(after, trig, makeNode('Mul', [raw, constant(`dype/reference.mscale.axis${axis.axis}`, axis.trigDtype, [m], [])], [out]));
      }
    }
  });
  g.node = g.node.flatMap((node) => [...(before.get(node) ?? []), node, ...(after.get(node) ?? [])]);
  pruneDead(g, replaced, pattern.axes.map((a) => a.constant));
}
