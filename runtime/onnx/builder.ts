/**
 * A tiny ONNX graph builder over `onnx-buf`'s generated protobuf classes. Pure: it only assembles
 * messages and returns bytes (model, plus an optional external-data blob); callers do the I/O.
 *
 * Conventions:
 * - every value is named by a string; `op()` invents unique output names (`<prefix><hint>_<n>`);
 * - attributes: an integer number → INT, `{ f }` → FLOAT, string → STRING, number[] → INTS,
 *   `{ floats }` → FLOATS, bigint → INT;
 * - an empty string as an input name means "optional input left out" (ONNX convention).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { DTYPES, makeAttribute, makeNode, makeValueInfo, tensorBytes, type Attrs } from './proto.ts';

export type { AttrValue, Attrs } from './proto.ts';

export type ElemType = 'float32' | 'float16' | 'bfloat16' | 'float8e4m3fn' | 'int64' | 'int32' | 'uint8' | 'bool';

/** The builder's element types: a view of the one table in ./proto.ts. */
export const ONNX_DTYPE: Readonly<Record<ElemType, TensorProto_DataType>> = DTYPES;

/** Operator sets of the non-default domains the builder knows (declared in the model when used). */
export const DOMAIN_OPSETS: Readonly<Record<string, number>> = Object.freeze({ 'com.microsoft': 1 });

/** A fixed size, or a symbolic dimension name (dynamic). */
export type Dim = number | string;

export interface OpOptions {
  /** Name hint for the generated output name(s). */
  name?: string;
  /** Exact output names instead of generated ones (must be unused). */
  outputs?: string[];
  /** Operator domain, e.g. `com.microsoft` (default: the ONNX domain). */
  domain?: string;
}

/** Where an initializer's bytes already are: a file beside the model (ONNX external data). */
export interface ExternalLocation {
  /** Path relative to the model's folder. */
  location: string;
  offset: number;
  length: number;
}

export interface ExternalDataOptions {
  /** File name of the blob, relative to the model file (e.g. `model.onnx_data`). */
  location: string;
  /** Initializers of at least this many bytes go external (default 1024). */
  threshold?: number;
  /** Offset alignment of each tensor in the blob (default 64). */
  align?: number;
}

export interface SerializeOptions {
  opset?: number;
  irVersion?: number;
  producerName?: string;
  docString?: string;
  metadata?: Record<string, string>;
  externalData?: ExternalDataOptions;
}

export interface SerializedModel {
  model: Uint8Array;
  /** Present when `externalData` was requested and some initializer qualified. */
  externalData?: Uint8Array;
}

interface PendingInitializer {
  name: string;
  dtype: ElemType;
  dims: number[];
  /** Little-endian raw bytes; none for an initializer already stored elsewhere. */
  bytes?: Uint8Array<ArrayBuffer>;
  external?: ExternalLocation;
}

function externalEntries(at: ExternalLocation) {
  const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
  return [entry('location', at.location), entry('offset', String(at.offset)), entry('length', String(at.length))];
}

function valueInfo(name: string, dtype: ElemType, shape: readonly Dim[]): ValueInfoProto {
  return makeValueInfo(name, ONNX_DTYPE[dtype], shape);
}

/** Reduce ops whose `axes` attribute became an input in opset 18 (ReduceSum's did in 13). */
const REDUCE_OPS_WITH_AXES_INPUT_FROM_18 = new Set(['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: PendingInitializer[] = [];
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly constCache = new Map<string, string>();
  private readonly domains = new Set<string>();
  private prefix = '';
  private constFloat: 'float32' | 'float16' = 'float32';

  constructor(readonly name: string) {}

  /**
   * Runs `fn` with `constF` making constants of `type`, so the shared ops (ops.ts) build a float16
   * region of a graph as they build a float32 one (nests; restored afterwards).
   */
  withFloat<R>(type: 'float32' | 'float16', fn: () => R): R {
    const saved = this.constFloat;
    this.constFloat = type;
    try {
      return fn();
    } finally {
      this.constFloat = saved;
    }
  }

  /** A fresh value name based on `hint`, prefixed with the current scope. */
  unique(hint: string): string {
    const base = this.prefix + hint;
    let n = this.counters.get(base) ?? 0;
    let candidate = n === 0 ? base : `${base}_${n}`;
    while (this.used.has(candidate)) candidate = `${base}_${++n}`;
    this.counters.set(base, n + 1);
    this.used.add(candidate);
    return candidate;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new Error(`value name ${name} is already used`);
    this.used.add(name);
    return name;
  }

  /** The current name prefix (`a.b.` inside scope('a') → scope('b')). */
  get scopePrefix(): string {
    return this.prefix;
  }

  /** Runs `fn` with `scope.` prepended to generated names (nests). */
  scope<R>(scope: string, fn: () => R): R {
    const saved = this.prefix;
    this.prefix = `${saved}${scope}.`;
    try {
      return fn();
    } finally {
      this.prefix = saved;
    }
  }

  input(name: string, dtype: ElemType, shape: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), dtype, shape));
    return name;
  }

  /** Declares an existing value as a graph output (the value must carry exactly this name). */
  output(name: string, dtype: ElemType, shape: readonly Dim[]): string {
    this.outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  initFloat(hint: string, data: Float32Array, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new RangeError(`initializer ${hint}: ${data.length} values for dims [${dims.join(',')}]`);
    const name = this.unique(hint);
    this.initializers.push({ name, dtype: 'float32', dims: [...dims], bytes: tensorBytes(TensorProto_DataType.FLOAT, data) });
    return name;
  }

  /** A float16 initializer from numbers (rounded to nearest even). */
  initHalf(hint: string, values: readonly number[], dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== values.length) throw new RangeError(`initializer ${hint}: ${values.length} values for dims [${dims.join(',')}]`);
    const name = this.unique(hint);
    this.initializers.push({ name, dtype: 'float16', dims: [...dims], bytes: tensorBytes(TensorProto_DataType.FLOAT16, values) });
    return name;
  }

  initInt64(hint: string, data: readonly (number | bigint)[] | BigInt64Array, dims: readonly number[] = [data.length]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new RangeError(`initializer ${hint}: ${data.length} values for dims [${dims.join(',')}]`);
    const name = this.unique(hint);
    this.initializers.push({ name, dtype: 'int64', dims: [...dims], bytes: tensorBytes(TensorProto_DataType.INT64, data) });
    return name;
  }

  /**
   * An initializer named exactly `name` (unscoped) whose bytes stay where they are, in a file beside
   * the model (e.g. a tensor inside a safetensors checkpoint): nothing is copied into the model.
   */
  initExternal(name: string, dtype: ElemType, dims: readonly number[], at: ExternalLocation): string {
    this.claim(name);
    this.initializers.push({ name, dtype, dims: [...dims], external: { ...at } });
    return name;
  }

  /**
   * A float constant (deduplicated) of the current float type (see `withFloat`). A scalar number
   * gives a 0-d tensor unless `dims` says otherwise.
   */
  constF(value: number | readonly number[], dims?: readonly number[]): string {
    const values = typeof value === 'number' ? [value] : [...value];
    const shape = dims ?? (typeof value === 'number' ? [] : [values.length]);
    const half = this.constFloat === 'float16';
    const key = `${half ? 'h' : 'f'}:${shape.join('x')}:${values.map((v) => Math.fround(v)).join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const saved = this.prefix;
    this.prefix = '';
    const name = half ? this.initHalf('const_h', values, shape) : this.initFloat('const_f', Float32Array.from(values), shape);
    this.prefix = saved;
    this.constCache.set(key, name);
    return name;
  }

  /** An int64 1-D constant (deduplicated); pass `dims: []` for a scalar. */
  constI64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const saved = this.prefix;
    this.prefix = '';
    const name = this.initInt64('const_i', values, dims);
    this.prefix = saved;
    this.constCache.set(key, name);
    return name;
  }

  /** Adds a node with one output and returns its name. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, options: OpOptions = {}): string {
    return this.opN(opType, inputs, 1, attrs, options)[0];
  }

  /** Adds a node with `count` outputs and returns their names. */
  opN(opType: string, inputs: readonly string[], count: number, attrs: Attrs = {}, options: OpOptions = {}): string[] {
    let outputs: string[];
    if (options.outputs) {
      if (options.outputs.length !== count) throw new RangeError(`${opType}: ${options.outputs.length} output names for ${count} outputs`);
      outputs = options.outputs.map((n) => this.claim(n));
    } else {
      const hint = options.name ?? opType.toLowerCase();
      outputs = Array.from({ length: count }, () => this.unique(hint));
    }
    if (options.domain) this.domains.add(options.domain);
    this.nodes.push(makeNode(opType, inputs, outputs, attrs, { name: `${outputs[0]}/${opType}`, domain: options.domain }));
    return outputs;
  }

  get initializerBytes(): number {
    return this.initializers.reduce((n, t) => n + (t.bytes?.length ?? 0), 0);
  }

  /**
   * A node recorded in its opset-17 form, rewritten for `opset`: from opset 18 the Reduce ops take
   * `axes` as an input and an unsized Split needs `num_outputs`. Builders write one form; the
   * converter serializes at opset 19 (for float8 Casts) and the demo at 17.
   */
  private legalize(node: NodeProto, opset: number): NodeProto {
    if (opset < 18 || node.domain) return node;
    const axes = node.attribute.find((a) => a.name === 'axes');
    if (REDUCE_OPS_WITH_AXES_INPUT_FROM_18.has(node.opType) && axes) {
      const axesInput = this.constI64(axes.ints.map(Number));
      return create(NodeProtoSchema, { ...node, input: [node.input[0], axesInput], attribute: node.attribute.filter((a) => a !== axes) });
    }
    if (node.opType === 'Split' && node.input.length < 2 && !node.attribute.some((a) => a.name === 'num_outputs')) {
      return create(NodeProtoSchema, { ...node, attribute: [...node.attribute, makeAttribute('num_outputs', node.output.length)] });
    }
    return node;
  }

  serialize(options: SerializeOptions = {}): SerializedModel {
    const opset = options.opset ?? 17;
    const nodes = this.nodes.map((node) => this.legalize(node, opset));
    const ext = options.externalData;
    const threshold = ext?.threshold ?? 1024;
    const align = ext?.align ?? 64;
    const blobParts: Uint8Array[] = [];
    let blobLength = 0;

    const tensors: TensorProto[] = this.initializers.map((t) => {
      const base = { name: t.name, dims: t.dims.map((d) => BigInt(d)), dataType: ONNX_DTYPE[t.dtype] };
      if (t.external) return create(TensorProtoSchema, { ...base, dataLocation: TensorProto_DataLocation.EXTERNAL, externalData: externalEntries(t.external) });
      if (!t.bytes) throw new Error(`initializer ${t.name} has no data`);
      if (!ext || t.bytes.length < threshold) return create(TensorProtoSchema, { ...base, rawData: t.bytes });
      const pad = (align - (blobLength % align)) % align;
      if (pad) blobParts.push(new Uint8Array(pad));
      const offset = blobLength + pad;
      blobParts.push(t.bytes);
      blobLength = offset + t.bytes.length;
      return create(TensorProtoSchema, {
        ...base,
        dataLocation: TensorProto_DataLocation.EXTERNAL,
        externalData: externalEntries({ location: ext.location, offset, length: t.bytes.length }),
      });
    });

    const graph = create(GraphProtoSchema, {
      name: this.name,
      node: nodes,
      input: this.inputs,
      output: this.outputs,
      initializer: tensors,
    });
    const model = create(ModelProtoSchema, {
      irVersion: BigInt(options.irVersion ?? 8),
      opsetImport: [
        create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) }),
        ...[...this.domains].map((domain) => {
          if (!(domain in DOMAIN_OPSETS)) throw new Error(`operator domain ${domain} has no known opset version`);
          return create(OperatorSetIdProtoSchema, { domain, version: BigInt(DOMAIN_OPSETS[domain]) });
        }),
      ],
      producerName: options.producerName ?? 'dype-onnx-builder',
      docString: options.docString ?? '',
      graph,
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
    });

    const result: SerializedModel = { model: toBinary(ModelProtoSchema, model) };
    if (blobParts.length > 0) {
      const blob = new Uint8Array(blobLength);
      let at = 0;
      for (const part of blobParts) {
        blob.set(part, at);
        at += part.length;
      }
      result.externalData = blob;
    }
    return result;
  }
}
