/**
 * onnxruntime-node cannot feed or return bfloat16 tensors. A graph with bfloat16 inputs/outputs is
 * wrapped: each such input becomes float32 followed by a Cast to bfloat16, each such output is
 * cast back to float32. float16 graphs stay as they are (the runtime feeds float16 directly).
 */
import { GraphIndex, renameUses, type OnnxModel } from '../onnx/graph.ts';
import { DataType, elemType, makeNode, setElemType } from '../onnx/proto.ts';

/** Wraps bfloat16 graph inputs/outputs with Casts; returns the names it wrapped. */
export function wrapBfloat16Boundary(model: OnnxModel): string[] {
  const g = model.graph;
  const index = new GraphIndex(g);
  const wrapped: string[] = [];
  const prelude = [];
  const initializerNames = new Set(g.initializer.map((t) => t.name));
  for (const input of g.input) {
    if (elemType(input) !== DataType.BFLOAT16 || initializerNames.has(input.name)) continue;
    const inner = index.unique(`${input.name}/bf16`);
    renameUses(g, input.name, inner);
    for (const v of g.valueInfo) if (v.name === input.name) v.name = inner;
    setElemType(input, DataType.FLOAT);
    prelude.push(makeNode('Cast', [input.name], [inner], { to: DataType.BFLOAT16 }));
    wrapped.push(input.name);
  }
  const epilogue = [];
  const inputNames = new Set(g.input.map((i) => i.name));
  for (const output of g.output) {
    if (elemType(output) !== DataType.BFLOAT16 || inputNames.has(output.name)) continue;
    const inner = index.unique(`${output.name}/bf16`);
    const producer = index.producer.get(output.name);
    if (producer) producer.output = producer.output.map((o) => (o === output.name ? inner : o));
    else for (const t of g.initializer) if (t.name === output.name) t.name = inner;
    renameUses(g, output.name, inner);
    for (const v of g.valueInfo) if (v.name === output.name) v.name = inner;
    setElemType(output, DataType.FLOAT);
    epilogue.push(makeNode('Cast', [inner], [output.name], { to: DataType.FLOAT }));
    wrapped.push(output.name);
  }
  g.node = [...prelude, ...g.node, ...epilogue];
  return wrapped;
}
