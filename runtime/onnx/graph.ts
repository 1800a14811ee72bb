/**
 * Reading and editing an existing ONNX graph as protobuf (onnx-buf). Weights in external data
 * files are never loaded: only small constants that a pattern needs are read, by offset.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Float16Array, getFloat16 } from '@petamoriken/float16';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { OnnxError } from './errors.ts';
import { bytesPerElement, dtypeName } from './proto.ts';


/** A model file and the folder its external data locations are relative to. */
export interface OnnxModel {
  path: string;
  dir: string;
  proto: ModelProto;
  graph: GraphProto;
}

export function readModel(path: string): OnnxModel {
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, readFileSync(path));
  } catch (error) {
    throw new OnnxError(`${path} is not a readable ONNX model: ${(error as Error).message}`, { cause: error });
  }
  if (!proto.graph) throw new OnnxError(`${path} has no graph`);
  return { path, dir: dirname(path), proto, graph: proto.graph };
}

export function serializeModel(model: OnnxModel): Uint8Array {
  return toBinary(ModelProtoSchema, model.proto);
}

export function opsetVersion(proto: ModelProto, domain = ''): number {
  const entry = proto.opsetImport.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === domain);
  return entry ? Number(entry.version) : 0;
}

export function ensureOpset(proto: ModelProto, domain: string, version: number): void {
  if (!proto.opsetImport.some((o) => o.domain === domain)) {
    proto.opsetImport.push(create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }));
  }
}

/** A readable handle for a node in messages: its name, or op and first output. */
export function nodeLabel(node: NodeProto): string {
  return node.name ? `${node.name} (${node.opType})` : `${node.opType} → ${node.output[0] ?? '?'}`;
}

// ---- Index over one graph.

/** Producer/consumer maps of a graph; rebuild after editing. */
export class GraphIndex {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly inputs = new Map<string, ValueInfoProto>();
  readonly outputs = new Map<string, ValueInfoProto>();
  readonly valueInfo = new Map<string, ValueInfoProto>();
  private readonly names = new Set<string>();

  constructor(readonly graph: GraphProto) {
    for (const t of graph.initializer) this.initializers.set(t.name, t);
    for (const i of graph.input) this.inputs.set(i.name, i);
    for (const o of graph.output) this.outputs.set(o.name, o);
    for (const v of graph.valueInfo) this.valueInfo.set(v.name, v);
    for (const node of graph.node) {
      for (const out of node.output) if (out) this.producer.set(out, node);
      // A Loop/If/Scan also reads the outer values its body uses by name (torch's repeat_interleave Loop does).
      const reads = new Set([...node.input, ...node.attribute.flatMap((a) => [...(a.g ? [a.g] : []), ...a.graphs].flatMap((g) => [...outerScopeReads(g)]))]);
      for (const inp of reads) {
        if (!inp) continue;
        const list = this.consumers.get(inp);
        if (list) list.push(node);
        else this.consumers.set(inp, [node]);
      }
      for (const n of [...node.input, ...node.output]) this.names.add(n);
    }
    for (const n of [...this.initializers.keys(), ...this.inputs.keys(), ...this.outputs.keys()]) this.names.add(n);
  }

  /** A value name not used anywhere in the graph, based on `hint`. */
  unique(hint: string): string {
    let name = hint;
    for (let n = 1; this.names.has(name); n++) name = `${hint}_${n}`;
    this.names.add(name);
    return name;
  }

  consumersOf(value: string): NodeProto[] {
    return this.consumers.get(value) ?? [];
  }

  /** True for initializers and outputs of Constant nodes. */
  isConstant(value: string): boolean {
    if (this.initializers.has(value)) return true;
    return this.producer.get(value)?.opType === 'Constant';
  }

  /** The tensor behind a constant value, if it is one (initializer or Constant `value`). */
  constantTensor(value: string): TensorProto | undefined {
    const init = this.initializers.get(value);
    if (init) return init;
    const node = this.producer.get(value);
    if (node?.opType !== 'Constant') return undefined;
    const a = node.attribute.find((x) => x.name === 'value' || x.name.startsWith('value_'));
    if (!a) return undefined;
    if (a.name === 'value' && a.t) return a.t;
    const T = TensorProto_DataType;
    if (a.name === 'value_float') return create(TensorProtoSchema, { dataType: T.FLOAT, floatData: [a.f] });
    if (a.name === 'value_floats') return create(TensorProtoSchema, { dataType: T.FLOAT, dims: [BigInt(a.floats.length)], floatData: a.floats });
    if (a.name === 'value_int') return create(TensorProtoSchema, { dataType: T.INT64, int64Data: [a.i] });
    if (a.name === 'value_ints') return create(TensorProtoSchema, { dataType: T.INT64, dims: [BigInt(a.ints.length)], int64Data: a.ints });
    return undefined;
  }

  /** Values of a constant as float64 numbers (ints converted); undefined when not a constant. */
  constantValues(value: string, modelDir: string): { values: Float64Array; dims: number[]; dataType: number } | undefined {
    const t = this.constantTensor(value);
    if (!t) return undefined;
    return { values: tensorValues(t, modelDir), dims: t.dims.map(Number), dataType: t.dataType };
  }

  /** Values reachable from `starts` by following consumers. */
  forwardClosure(starts: Iterable<string>): Set<string> {
    const seen = new Set<string>(starts);
    const queue = [...seen];
    while (queue.length) {
      for (const node of this.consumersOf(queue.pop()!)) {
        for (const out of node.output) {
          if (out && !seen.has(out)) {
            seen.add(out);
            queue.push(out);
          }
        }
      }
    }
    return seen;
  }
}

/** Values a subgraph reads from its enclosing graphs: used, and not defined inside it. */
function outerScopeReads(graph: GraphProto): Set<string> {
  const defined = new Set<string>([...graph.input.map((i) => i.name), ...graph.initializer.map((t) => t.name)]);
  for (const node of graph.node) for (const out of node.output) defined.add(out);
  const reads = new Set<string>();
  for (const node of graph.node) {
    for (const inp of node.input) if (inp && !defined.has(inp)) reads.add(inp);
    for (const a of node.attribute) for (const g of [...(a.g ? [a.g] : []), ...a.graphs]) for (const inp of outerScopeReads(g)) if (!defined.has(inp)) reads.add(inp);
  }
  return reads;
}

// ---- Tensor data.

function externalEntry(t: TensorProto, key: string): string | undefined {
  return t.externalData.find((e) => e.key === key)?.value;
}

/** Raw little-endian bytes of a tensor: inline raw_data, or the referenced slice of its external file. */
export function tensorRawBytes(t: TensorProto, modelDir: string): Uint8Array | undefined {
  if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) {
    const location = externalEntry(t, 'location');
    if (!location) throw new OnnxError(`initializer ${t.name} is external but has no location`);
    const offset = Number(externalEntry(t, 'offset') ?? 0);
    const count = t.dims.reduce((n, d) => n * Number(d), 1);
    const length = Number(externalEntry(t, 'length') ?? count * bytesPerElement(t.dataType));
    const bytes = new Uint8Array(length);
    const fd = openSync(join(modelDir, location), 'r');
    try {
      let read = 0;
      while (read < length) {
        const n = readSync(fd, bytes, read, length - read, offset + read);
        if (n === 0) throw new OnnxError(`external data of ${t.name} in ${location} is truncated`);
        read += n;
      }
    } finally {
      closeSync(fd);
    }
    return bytes;
  }
  return t.rawData.length > 0 ? t.rawData : undefined;
}

/** Decodes a (small) numeric tensor to float64 numbers. */
export function tensorValues(t: TensorProto, modelDir: string): Float64Array {
  const T = TensorProto_DataType;
  const raw = tensorRawBytes(t, modelDir);
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const size = bytesPerElement(t.dataType);
    const out = new Float64Array(raw.byteLength / size);
    for (let i = 0; i < out.length; i++) {
      const at = i * size;
      switch (t.dataType) {
        case T.FLOAT:
          out[i] = view.getFloat32(at, true);
          break;
        case T.DOUBLE:
          out[i] = view.getFloat64(at, true);
          break;
        case T.FLOAT16:
          out[i] = getFloat16(view, at, true);
          break;
        case T.BFLOAT16:
          out[i] = new Float32Array(Uint32Array.of(view.getUint16(at, true) << 16).buffer)[0];
          break;
        case T.INT64:
          out[i] = Number(view.getBigInt64(at, true));
          break;
        case T.INT32:
          out[i] = view.getInt32(at, true);
          break;
        case T.INT8:
          out[i] = view.getInt8(at);
          break;
        case T.UINT8:
        case T.BOOL:
          out[i] = view.getUint8(at);
          break;
        default:
          throw new OnnxError(`constant ${t.name} has unsupported element type ${dtypeName(t.dataType)}`);
      }
    }
    return out;
  }
  if (t.floatData.length) return Float64Array.from(t.floatData);
  if (t.doubleData.length) return Float64Array.from(t.doubleData);
  if (t.int64Data.length) return Float64Array.from(t.int64Data, Number);
  if (t.int32Data.length) {
    if (t.dataType === T.FLOAT16) return Float64Array.from(new Float16Array(Uint16Array.from(t.int32Data).buffer));
    if (t.dataType === T.BFLOAT16) return Float64Array.from(t.int32Data, (bits) => new Float32Array(Uint32Array.of(bits << 16).buffer)[0]);
    return Float64Array.from(t.int32Data);
  }
  return new Float64Array(0);
}

/** Every external data location the graph's initializers (and Constant tensors) refer to. */
export function externalLocations(graph: GraphProto): string[] {
  const found = new Set<string>();
  forEachTensor(graph, (t) => {
    if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) return;
    const location = externalEntry(t, 'location');
    if (location) found.add(location);
  });
  return [...found];
}

/** Visits initializers and attribute tensors, subgraphs included. */
export function forEachTensor(graph: GraphProto, visit: (t: TensorProto) => void): void {
  graph.initializer.forEach(visit);
  for (const node of graph.node) {
    for (const a of node.attribute) {
      if (a.t) visit(a.t);
      a.tensors.forEach(visit);
      if (a.g) forEachTensor(a.g, visit);
      a.graphs.forEach((g) => forEachTensor(g, visit));
    }
  }
}

/** Rewrites external `location` entries (e.g. after linking a data file under another name). */
export function renameExternalLocations(graph: GraphProto, renames: ReadonlyMap<string, string>): void {
  forEachTensor(graph, (t) => {
    for (const e of t.externalData) if (e.key === 'location' && renames.has(e.value)) e.value = renames.get(e.value)!;
  });
}

/**
 * Removes nodes (among `candidates`) whose outputs nobody reads, repeatedly, then the initializers
 * they (or `values`) referred to that became unused. Everything else is untouched.
 */
export function pruneDead(graph: GraphProto, candidates: Iterable<NodeProto>, values: Iterable<string> = []): void {
  const pending = new Set(candidates);
  const orphans = new Set(values);
  let changed = true;
  while (changed) {
    changed = false;
    const used = usedValues(graph);
    for (const node of [...pending]) {
      if (node.output.some((o) => o && used.has(o))) continue;
      const at = graph.node.indexOf(node);
      if (at >= 0) graph.node.splice(at, 1);
      node.input.forEach((i) => orphans.add(i));
      pending.delete(node);
      changed = true;
    }
  }
  const used = usedValues(graph);
  const inputs = new Set(graph.input.map((i) => i.name));
  graph.initializer = graph.initializer.filter((t) => !orphans.has(t.name) || used.has(t.name) || inputs.has(t.name));
}

function usedValues(graph: GraphProto): Set<string> {
  const used = new Set<string>(graph.output.map((o) => o.name));
  const visit = (g: GraphProto) => {
    for (const node of g.node) {
      for (const i of node.input) if (i) used.add(i);
      for (const a of node.attribute) {
        if (a.g) visit(a.g);
        a.graphs.forEach(visit);
      }
    }
  };
  visit(graph);
  return used;
}

/** Renames every read of `from` to `to` in the graph and its subgraphs. */
export function renameUses(graph: GraphProto, from: string, to: string): void {
  for (const node of graph.node) {
    node.input = node.input.map((i) => (i === from ? to : i));
    for (const a of node.attribute) {
      if (a.g) renameUses(a.g, from, to);
      a.graphs.forEach((g) => renameUses(g, from, to));
    }
  }
}
