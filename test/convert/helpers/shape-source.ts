/**
 * A test-only WeightSource with shapes and no bytes: every weight becomes a graph input of its
 * shape, so a full-size graph (T5-XXL, the FLUX VAE) can be built and loaded by onnxruntime, which
 * checks every op's types and shapes, without gigabytes of weights.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../runtime/onnx/builder.ts';
import type { StoredTensor } from '../../../runtime/convert/safetensors.ts';
import { MissingTensorError, type WeightSource } from '../../../runtime/convert/weights.ts';

export class ShapeOnlySource implements WeightSource {
  private readonly values = new Map<string, string>();

  constructor(
    readonly origin: string,
    private readonly shapes: Readonly<Record<string, readonly number[]>>,
    private readonly g: GraphBuilder,
  ) {}

  has(key: string): boolean {
    return key in this.shapes;
  }

  tensor(key: string): StoredTensor {
    if (!this.has(key)) throw new MissingTensorError(this.origin, key);
    return { key, dtype: 'F32', shape: this.shapes[key], file: this.origin, byteOffset: 0, byteLength: 0 };
  }

  shape(key: string): readonly number[] {
    return this.tensor(key).shape;
  }

  keys(prefix = ''): string[] {
    return Object.keys(this.shapes).filter((k) => k.startsWith(prefix));
  }

  value(key: string): string {
    let name = this.values.get(key);
    if (!name) {
      name = this.g.input(key, 'float32', this.shape(key));
      this.values.set(key, name);
    }
    return name;
  }
}

/** A graph built over a key → shape table, and the config its builder derived. */
export function buildFromShapes<C>(name: string, table: Readonly<Record<string, readonly number[]>>, derive: (w: WeightSource) => C, builder: (g: GraphBuilder, w: WeightSource, cfg: C) => void) {
  const g = new GraphBuilder(name);
  const w = new ShapeOnlySource(name, table, g);
  const cfg = derive(w);
  builder(g, w, cfg);
  return { g, cfg };
}

/** Loads the graph in onnxruntime (which checks every op's types and shapes) and gives its input and output names. */
export async function graphSignature(g: GraphBuilder): Promise<{ inputs: readonly string[]; outputs: readonly string[] }> {
  const session = await ort.InferenceSession.create(g.serialize({ opset: 17 }).model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    return { inputs: session.inputNames, outputs: session.outputNames };
  } finally {
    await session.release();
  }
}
