/**
 * The ONNX protobuf vocabulary shared by the graph builder and the graph reader/editor: one table of
 * element types, one attribute encoder and reader, and the messages both make (value infos, nodes,
 * small tensors). Pure: no I/O.
 */
import { create } from '@bufbuild/protobuf';
import { Float16Array } from '@petamoriken/float16';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  NodeProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { OnnxError } from './errors.ts';

export { TensorProto_DataType as DataType };

// ---- Element types.

/** Our names for ONNX element types (ORT's names), and their protobuf codes. */
export const DTYPES = Object.freeze({
  float32: TensorProto_DataType.FLOAT,
  float16: TensorProto_DataType.FLOAT16,
  bfloat16: TensorProto_DataType.BFLOAT16,
  float64: TensorProto_DataType.DOUBLE,
  int64: TensorProto_DataType.INT64,
  int32: TensorProto_DataType.INT32,
  bool: TensorProto_DataType.BOOL,
  uint8: TensorProto_DataType.UINT8,
  int8: TensorProto_DataType.INT8,
  float8e4m3fn: TensorProto_DataType.FLOAT8E4M3FN,
  float8e5m2: TensorProto_DataType.FLOAT8E5M2,
  int4: TensorProto_DataType.INT4,
  uint4: TensorProto_DataType.UINT4,
  float4e2m1: TensorProto_DataType.FLOAT4E2M1,
});

export type DtypeName = keyof typeof DTYPES;

const NAME_OF = new Map<number, DtypeName>(Object.entries(DTYPES).map(([name, code]) => [code, name as DtypeName]));

/** `float32`, `int64`, … for a protobuf element type; `onnx-type-<n>` for one we have no name for. */
export function dtypeName(type: number): string {
  return NAME_OF.get(type) ?? `onnx-type-${type}`;
}

/** Bytes per element (1 for sub-byte and 8-bit types). */
export function bytesPerElement(dataType: number): number {
  const T = TensorProto_DataType;
  switch (dataType) {
    case T.DOUBLE:
    case T.INT64:
    case T.UINT64:
      return 8;
    case T.FLOAT:
    case T.INT32:
    case T.UINT32:
      return 4;
    case T.FLOAT16:
    case T.BFLOAT16:
    case T.INT16:
    case T.UINT16:
      return 2;
    default:
      return 1;
  }
}

// ---- Attributes.

/**
 * An attribute value: an integer number or bigint → INT, `{ f }` → FLOAT, string → STRING,
 * number[] → INTS, `{ floats }` → FLOATS.
 */
export type AttrValue = number | bigint | string | number[] | { f: number } | { floats: number[] };
export type Attrs = Record<string, AttrValue>;

export function makeAttribute(name: string, value: AttrValue): AttributeProto {
  const T = AttributeProto_AttributeType;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`attribute ${name}: non-integer ${value}; wrap floats as { f }`);
    return create(AttributeProtoSchema, { name, type: T.INT, i: BigInt(value) });
  }
  if (typeof value === 'bigint') return create(AttributeProtoSchema, { name, type: T.INT, i: value });
  if (typeof value === 'string') return create(AttributeProtoSchema, { name, type: T.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) return create(AttributeProtoSchema, { name, type: T.INTS, ints: value.map((v) => BigInt(v)) });
  if ('f' in value) return create(AttributeProtoSchema, { name, type: T.FLOAT, f: value.f });
  return create(AttributeProtoSchema, { name, type: T.FLOATS, floats: value.floats });
}

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = attribute(node, name);
  return a ? Number(a.i) : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a ? a.ints.map(Number) : undefined;
}

export function attrString(node: NodeProto, name: string): string | undefined {
  const a = attribute(node, name);
  return a ? new TextDecoder().decode(a.s) : undefined;
}

// ---- Messages.

export function makeNode(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Attrs = {}, options: { name?: string; domain?: string } = {}): NodeProto {
  return create(NodeProtoSchema, {
    name: options.name ?? `dype/${outputs[0]}`,
    opType,
    domain: options.domain ?? '',
    input: [...inputs],
    output: [...outputs],
    attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
  });
}

/** A tensor value info; `shape` null leaves the shape unknown, a string dim is symbolic. */
export function makeValueInfo(name: string, elemType: number, shape: readonly (number | string)[] | null): ValueInfoProto {
  const tensor = create(TypeProto_TensorSchema, { elemType });
  if (shape) {
    tensor.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((d) =>
        create(TensorShapeProto_DimensionSchema, { value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d } }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensor } }) });
}

/** Element type of a tensor value info (0 when not a tensor or unknown). */
export function elemType(info: ValueInfoProto | undefined): number {
  const t = info?.type?.value;
  return t?.case === 'tensorType' ? t.value.elemType : 0;
}

/** Shape of a tensor value info: numbers for fixed dims, names (or '?') for symbolic ones. */
export function valueShape(info: ValueInfoProto | undefined): (number | string)[] | null {
  const t = info?.type?.value;
  if (t?.case !== 'tensorType' || !t.value.shape) return null;
  return t.value.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?'));
}

export function setElemType(info: ValueInfoProto, type: number): void {
  const t = info.type?.value;
  if (t?.case === 'tensorType') t.value.elemType = type;
}

// ---- Tensors.

/** Little-endian raw bytes of `values` stored as `dataType` (floats rounded to nearest even). */
export function tensorBytes(dataType: number, values: ArrayLike<number | bigint>): Uint8Array<ArrayBuffer> {
  const T = TensorProto_DataType;
  if (dataType === T.INT64) {
    const out = new Uint8Array(values.length * 8);
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
    return out;
  }
  const numbers = Array.from(values, Number);
  let typed: Float32Array | Float64Array | Float16Array | Uint16Array | Int32Array;
  if (dataType === T.FLOAT) typed = Float32Array.from(numbers);
  else if (dataType === T.DOUBLE) typed = Float64Array.from(numbers);
  else if (dataType === T.FLOAT16) typed = Float16Array.from(numbers);
  else if (dataType === T.INT32) typed = Int32Array.from(numbers);
  else if (dataType === T.BFLOAT16) typed = Uint16Array.from(new Uint32Array(Float32Array.from(numbers).buffer), (b) => Math.floor((b + 0x7fff + ((b >>> 16) & 1)) / 0x10000) & 0xffff);
  else throw new OnnxError(`cannot write a tensor of ${dtypeName(dataType)} values`);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength).slice();
}

/** A tensor with inline raw data. */
export function makeTensor(name: string, dataType: number, values: ArrayLike<number | bigint>, dims: readonly number[] = [values.length]): TensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== values.length) throw new RangeError(`tensor ${name}: ${values.length} values for dims [${dims.join(',')}]`);
  return create(TensorProtoSchema, { name, dims: dims.map((d) => BigInt(d)), dataType, rawData: tensorBytes(dataType, values) });
}
