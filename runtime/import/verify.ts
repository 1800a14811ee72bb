/**
 * Self-check of a rewritten transformer, two comparisons on the same small random input (a 4×4
 * image grid and a few text tokens):
 * - native: the original graph vs the rewritten one fed native ω and mscale 1;
 * - DyPE: the original graph with distinct per-axis ω and mscale ≠ 1 baked in (rope.ts bakeRope:
 *   the graph "natively built" with those values) vs the rewritten one fed the same values. Native ω
 *   alone cannot tell the two spatial axes apart (equal dims, equal ω) nor see where mscale lands.
 * Runs on the CPU provider (unless told otherwise) through runtime/pipeline/ort.ts.
 */
import { clone, toBinary } from '@bufbuild/protobuf';
import { rm } from 'node:fs/promises';
import { ModelProtoSchema } from 'onnx-buf';
import { fluxRopeFrequencies, fluxRopeTables } from '../dype/index.ts';
import { writeFileAtomic } from '../files/atomic.ts';
import { imageIds, textIds } from '../pipeline/latents.ts';
import { gaussianNoise } from '../pipeline/noise.ts';
import { createSession, type InputInfo, type TensorData } from '../pipeline/ort.ts';
import type { Device } from '../pipeline/providers.ts';
import { ImportError } from './errors.ts';
import { GraphIndex, type OnnxModel } from '../onnx/graph.ts';
import { DataType, makeNode, makeValueInfo } from '../onnx/proto.ts';
import { bakeRope, findRope } from './rope.ts';

export interface ProbeGrid {
  rows: number;
  cols: number;
  textTokens: number;
}

export const VERIFY_GRID: ProbeGrid = Object.freeze({ rows: 4, cols: 4, textTokens: 5 });

export interface RopeSettings {
  axesDim: readonly number[];
  theta: number;
}

export interface OutputDiff {
  name: string;
  maxAbsDiff: number;
  maxAbsRef: number;
}

/** One comparison of the self-check. */
export interface Comparison {
  passed: boolean;
  /** Largest |reference − imported| over every output element. */
  maxAbsDiff: number;
  /** Largest |reference| (scale of the outputs). */
  maxAbsRef: number;
  tolerance: number;
  outputs: OutputDiff[];
}

export interface VerifyResult {
  /** Both comparisons passed. */
  passed: boolean;
  /** Native ω, mscale 1: the original graph vs the imported one. */
  native: Comparison;
  /**
   * Distinct ω and mscale ≠ 1 per axis ({@link dypeProbeRope}): the original graph with them baked
   * in vs the imported one fed them. Null when the import did not rewrite the RoPE.
   */
  dype: Comparison | null;
  grid: ProbeGrid;
}

/** RoPE values for the transformer's rope_omega/rope_mscale (float32, [Σd/2] each). */
export interface RopeFeed {
  omega: Float32Array;
  mscale: Float32Array;
}

/**
 * The DyPE comparison's RoPE: native ω of axis a scaled by 1/(1.25 + 0.5a) (0.8, 0.57, 0.44 for
 * FLUX's three axes: the two spatial axes no longer share ω), and a distinct mscale ≠ 1 per axis
 * (1.2, 0.71, 1.6), all float32-exact so the reference can hold exactly what the input carries.
 */
export function dypeProbeRope(rope: RopeSettings): RopeFeed & { axisMscale: number[] } {
  const { omega: native } = fluxRopeFrequencies({ height: 1, width: 1, textTokens: 1 }, 1, { method: 'base', dynamic: false, axesDim: [...rope.axesDim], theta: rope.theta });
  const omega = new Float32Array(native.length);
  const mscale = new Float32Array(native.length);
  const axisMscale: number[] = [];
  let offset = 0;
  rope.axesDim.forEach((d, a) => {
    const m = Math.fround(a % 2 === 0 ? 1 + 0.2 * (a + 1) : 1 / (1 + 0.2 * (a + 1)));
    axisMscale.push(m);
    for (let j = offset; j < offset + d / 2; j++) omega[j] = native[j] / (1.25 + 0.5 * a);
    mscale.fill(m, offset, offset + d / 2);
    offset += d / 2;
  });
  return { omega, mscale, axisMscale };
}

/** How {@link transformerFeeds} fills the RoPE-related inputs. */
export interface FeedOptions {
  /** rope_omega/rope_mscale values (default: native ω, mscale 1). */
  rope?: RopeFeed;
  /**
   * Give the image ids a non-zero first column (1, 2, 3, 1, …), which FLUX leaves at 0, so that
   * axis 0's frequencies and scale act on the output too.
   */
  allAxes?: boolean;
}

/** The image grid and text length a transformer accepts: fixed dims win over the probe grid. */
function resolveGrid(inputs: readonly InputInfo[], grid: ProbeGrid): ProbeGrid {
  const dim = (name: string, axis: number) => {
    const d = inputs.find((i) => i.name === name)?.shape[axis];
    return typeof d === 'number' && d > 0 ? d : null;
  };
  const image = dim('hidden_states', 1);
  const text = dim('encoder_hidden_states', 1);
  let { rows, cols } = grid;
  if (image !== null && image !== rows * cols) {
    const side = Math.round(Math.sqrt(image));
    [rows, cols] = side * side === image ? [side, side] : [1, image];
  }
  return { rows, cols, textTokens: text ?? grid.textTokens };
}

/**
 * Feeds for every input of a FLUX transformer: seeded random activations, FLUX position ids, and
 * native RoPE (θ^(−2j/d), mscale 1) for rope_omega/rope_mscale or rope_cos/rope_sin.
 */
export function transformerFeeds(
  inputs: readonly InputInfo[],
  rope: RopeSettings,
  grid: ProbeGrid = VERIFY_GRID,
  seed = 1234,
  options: FeedOptions = {},
): { feeds: Record<string, TensorData>; grid: ProbeGrid } {
  const g = resolveGrid(inputs, grid);
  const tokens = g.rows * g.cols;
  const feeds: Record<string, TensorData> = {};
  const native = { method: 'base' as const, dynamic: false, axesDim: [...rope.axesDim], theta: rope.theta };
  const tokenGrid = { height: g.rows, width: g.cols, textTokens: g.textTokens };
  const width = (info: InputInfo, axis: number): number => {
    const d = info.shape[axis];
    if (typeof d !== 'number' || d <= 0) throw new ImportError('verify_failed', `cannot build a test input for ${info.name}: dimension ${axis} of [${info.shape.join(', ')}] is not fixed`);
    return d;
  };
  const seedOf: Record<string, number> = { hidden_states: 0, encoder_hidden_states: 1, pooled_projections: 2 };
  for (const info of inputs) {
    const i = seedOf[info.name] ?? 3;
    const f32 = (data: Float32Array, dims: number[]): TensorData => ({ type: 'float32', data, dims });
    switch (info.name) {
      case 'hidden_states': {
        const c = width(info, 2);
        feeds[info.name] = f32(gaussianNoise(seed + i, tokens * c), [1, tokens, c]);
        break;
      }
      case 'encoder_hidden_states': {
        const c = width(info, 2);
        feeds[info.name] = f32(gaussianNoise(seed + i, g.textTokens * c), [1, g.textTokens, c]);
        break;
      }
      case 'pooled_projections': {
        const c = width(info, 1);
        feeds[info.name] = f32(gaussianNoise(seed + i, c), [1, c]);
        break;
      }
      case 'timestep':
        feeds[info.name] = f32(Float32Array.of(0.75), [1]);
        break;
      case 'guidance':
        feeds[info.name] = f32(Float32Array.of(3.5), [1]);
        break;
      case 'img_ids':
      case 'txt_ids': {
        const n = info.name === 'img_ids' ? tokens : g.textTokens;
        const data = info.name === 'img_ids' ? imageIds(g.rows, g.cols) : textIds(n);
        if (info.name === 'img_ids' && options.allAxes) for (let t = 0; t < n; t++) data[t * 3] = 1 + (t % 3);
        feeds[info.name] = f32(data, info.shape.length === 3 ? [1, n, 3] : [n, 3]);
        break;
      }
      case 'rope_omega':
      case 'rope_mscale': {
        const { omega, mscale } = options.rope ?? fluxRopeFrequencies(tokenGrid, 1, native);
        feeds[info.name] = f32(Float32Array.from(info.name === 'rope_omega' ? omega : mscale), [omega.length]);
        break;
      }
      case 'rope_cos':
      case 'rope_sin': {
        const { cos, sin, dim } = fluxRopeTables(tokenGrid, 1, native);
        feeds[info.name] = f32(info.name === 'rope_cos' ? cos : sin, [cos.length / dim, dim]);
        break;
      }
      default:
        throw new ImportError('verify_failed', `cannot build a test input for the transformer input "${info.name}"`);
    }
  }
  return { feeds, grid: g };
}

/** Runs a model file once per feed (CPU unless told otherwise), loading it once, and releases it. */
export async function runModel(path: string, feeds: readonly ((inputs: readonly InputInfo[]) => Record<string, TensorData>)[], device: Device = 'cpu'): Promise<Record<string, TensorData>[]> {
  const session = await createSession(path, device);
  try {
    const results: Record<string, TensorData>[] = [];
    for (const feed of feeds) results.push(await session.run(feed(session.inputs)));
    return results;
  } finally {
    await session.release();
  }
}

export function compareOutputs(reference: Record<string, TensorData>, candidate: Record<string, TensorData>): { outputs: OutputDiff[]; maxAbsDiff: number; maxAbsRef: number } {
  const outputs: OutputDiff[] = [];
  for (const [name, ref] of Object.entries(reference)) {
    const cand = candidate[name];
    if (!cand) throw new ImportError('verify_failed', `the imported transformer lacks the output ${name}`);
    if (cand.data.length !== ref.data.length) {
      throw new ImportError('verify_failed', `output ${name}: ${cand.data.length} values, the original gives ${ref.data.length}`);
    }
    let maxAbsDiff = 0;
    let maxAbsRef = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const a = Number(ref.data[i]);
      const b = Number(cand.data[i]);
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      const d = Math.abs(a - b);
      maxAbsDiff = Number.isNaN(d) ? Infinity : Math.max(maxAbsDiff, d);
      if (Number.isFinite(a)) maxAbsRef = Math.max(maxAbsRef, Math.abs(a));
    }
    outputs.push({ name, maxAbsDiff, maxAbsRef });
  }
  return {
    outputs,
    maxAbsDiff: Math.max(0, ...outputs.map((o) => o.maxAbsDiff)),
    maxAbsRef: Math.max(0, ...outputs.map((o) => o.maxAbsRef)),
  };
}

/** Allowed max |Δ| for outputs of scale `maxAbsRef` from a graph computing in `precision`. */
export function verifyTolerance(precision: string, maxAbsRef: number): number {
  const [atol, rtol] = precision === 'float16' ? [1e-3, 5e-3] : precision === 'bfloat16' ? [1e-2, 2e-2] : [1e-5, 1e-4];
  return atol + rtol * maxAbsRef;
}

/**
 * Writes the DyPE comparison's reference next to the weights: `model` (the original graph, before
 * the rewrite; left untouched) with {@link dypeProbeRope}'s ω and mscale baked in by bakeRope.
 */
export async function writeDypeReference(model: OnnxModel, path: string, rope: RopeSettings): Promise<void> {
  const proto = clone(ModelProtoSchema, model.proto);
  const copy: OnnxModel = { ...model, proto, graph: proto.graph! };
  const pattern = findRope(new GraphIndex(copy.graph), copy.dir);
  const probe = dypeProbeRope({ axesDim: pattern.axesDim, theta: rope.theta });
  bakeRope(copy, pattern, probe.omega, probe.axisMscale);
  await writeFileAtomic(path, toBinary(ModelProtoSchema, proto));
}

export interface VerifyModels {
  /** The original graph (native check's reference). */
  reference: string;
  /** The imported graph. */
  candidate: string;
  /** The original with the DyPE probe's RoPE baked in ({@link writeDypeReference}); null skips the DyPE comparison. */
  dypeReference: string | null;
}

function compare(reference: Record<string, TensorData>, candidate: Record<string, TensorData>, precision: string): Comparison {
  const diff = compareOutputs(reference, candidate);
  const tolerance = verifyTolerance(precision, diff.maxAbsRef);
  return { ...diff, tolerance, passed: diff.maxAbsDiff <= tolerance };
}

/**
 * Runs the models one after the other (so only one is in memory; the candidate once for both
 * inputs): the reference and the candidate on native RoPE, then the DyPE reference and the
 * candidate on the DyPE probe's RoPE, with every position axis in use.
 */
export async function verifyTransformer(models: VerifyModels, rope: RopeSettings, precision: string, device: Device = 'cpu'): Promise<VerifyResult> {
  let grid = VERIFY_GRID;
  const probe = dypeProbeRope(rope);
  const feeds = (options: FeedOptions) => (inputs: readonly InputInfo[]) => {
    const made = transformerFeeds(inputs, rope, VERIFY_GRID, 1234, options);
    grid = made.grid;
    return made.feeds;
  };
  const nativeFeeds = feeds({});
  const dypeFeeds = feeds({ rope: probe, allAxes: true });
  const [reference] = await runModel(models.reference, [nativeFeeds], device);
  const [dypeReference] = models.dypeReference ? await runModel(models.dypeReference, [dypeFeeds], device) : [null];
  const [candidate, dypeCandidate] = await runModel(models.candidate, dypeReference ? [nativeFeeds, dypeFeeds] : [nativeFeeds], device);
  const native = compare(reference, candidate, precision);
  const dype = dypeReference ? compare(dypeReference, dypeCandidate, precision) : null;
  return { passed: native.passed && (dype?.passed ?? true), native, dype, grid };
}

/**
 * Runs `model` once on the probe input and returns the values of internal tensors `names` (cast to
 * float32 and exposed as extra outputs of a temporary copy written to `path`).
 */
export async function probeTransformer(model: OnnxModel, path: string, names: readonly string[], rope: RopeSettings, device: Device = 'cpu'): Promise<Map<string, { dims: readonly number[]; data: Float32Array }>> {
  const proto = clone(ModelProtoSchema, model.proto);
  const graph = proto.graph!;
  const index = new GraphIndex(graph);
  const exposed = new Map<string, string>();
  for (const name of names) {
    const out = index.unique(`${name}/probe`);
    graph.node.push(makeNode('Cast', [name], [out], { to: DataType.FLOAT }));
    graph.output.push(makeValueInfo(out, DataType.FLOAT, null));
    exposed.set(name, out);
  }
  await writeFileAtomic(path, toBinary(ModelProtoSchema, proto));
  try {
    const [results] = await runModel(path, [(inputs) => transformerFeeds(inputs, rope).feeds], device);
    const values = new Map<string, { dims: readonly number[]; data: Float32Array }>();
    for (const [name, out] of exposed) values.set(name, { dims: results[out].dims, data: results[out].data as Float32Array });
    return values;
  } finally {
    await rm(path, { force: true });
  }
}

/** Pixels per latent pixel of a VAE decoder: it decodes a 2×2 latent of `channels` zeros once. */
export async function probeVaeScale(path: string, channels: number, device: Device = 'cpu'): Promise<number> {
  const [out] = await runModel(path, [(inputs) => ({ [inputs[0].name]: { type: 'float32', data: new Float32Array(channels * 4), dims: [1, channels, 2, 2] } })], device);
  const dims = Object.values(out)[0].dims;
  return dims[dims.length - 1] / 2;
}
