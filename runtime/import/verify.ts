/**
 * Self-check of a rewritten transformer: the original and the rewritten graph run on the same small
 * random input (a 4×4 image grid and a few text tokens) with native ω and mscale 1, and their
 * outputs are compared. Runs on the CPU provider through runtime/pipeline/ort.ts.
 */
import { clone, toBinary } from '@bufbuild/protobuf';
import { rm } from 'node:fs/promises';
import { ModelProtoSchema } from 'onnx-buf';
import { fluxRopeFrequencies, fluxRopeTables } from '../dype/index.ts';
import { imageIds, textIds } from '../pipeline/latents.ts';
import { gaussianNoise } from '../pipeline/noise.ts';
import { createSession, type InputInfo, type TensorData } from '../pipeline/ort.ts';
import type { Device } from '../pipeline/types.ts';
import { ImportError } from './errors.ts';
import { DataType, GraphIndex, makeNode, makeValueInfo, writeFileAtomic, type OnnxModel } from './graph.ts';

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

export interface VerifyResult {
  passed: boolean;
  /** Largest |original − imported| over every output element. */
  maxAbsDiff: number;
  /** Largest |original| (scale of the outputs). */
  maxAbsRef: number;
  tolerance: number;
  outputs: OutputDiff[];
  grid: ProbeGrid;
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
export function transformerFeeds(inputs: readonly InputInfo[], rope: RopeSettings, grid: ProbeGrid = VERIFY_GRID, seed = 1234): { feeds: Record<string, TensorData>; grid: ProbeGrid } {
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
        feeds[info.name] = f32(data, info.shape.length === 3 ? [1, n, 3] : [n, 3]);
        break;
      }
      case 'rope_omega':
      case 'rope_mscale': {
        const { omega, mscale } = fluxRopeFrequencies(tokenGrid, 1, native);
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

/** Runs a model file once (CPU unless told otherwise) and releases it. */
export async function runOnce(path: string, feeds: (inputs: readonly InputInfo[]) => Record<string, TensorData>, device: Device = 'cpu'): Promise<Record<string, TensorData>> {
  const session = await createSession(path, device);
  try {
    return await session.run(feeds(session.inputs));
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
 * Runs `referencePath` and `candidatePath` (one after the other, so only one is in memory) on the
 * same input; the candidate additionally gets native rope_omega/rope_mscale when it takes them.
 */
export async function verifyTransformer(referencePath: string, candidatePath: string, rope: RopeSettings, precision: string, device: Device = 'cpu'): Promise<VerifyResult> {
  let grid = VERIFY_GRID;
  const feedsFor = (inputs: readonly InputInfo[]) => {
    const made = transformerFeeds(inputs, rope);
    grid = made.grid;
    return made.feeds;
  };
  const reference = await runOnce(referencePath, feedsFor, device);
  const candidate = await runOnce(candidatePath, feedsFor, device);
  const diff = compareOutputs(reference, candidate);
  const tolerance = verifyTolerance(precision, diff.maxAbsRef);
  return { ...diff, tolerance, passed: diff.maxAbsDiff <= tolerance, grid };
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
    const results = await runOnce(path, (inputs) => transformerFeeds(inputs, rope).feeds, device);
    const values = new Map<string, { dims: readonly number[]; data: Float32Array }>();
    for (const [name, out] of exposed) values.set(name, { dims: results[out].dims, data: results[out].data as Float32Array });
    return values;
  } finally {
    await rm(path, { force: true });
  }
}
