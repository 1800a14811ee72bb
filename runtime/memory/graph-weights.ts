/**
 * A bundle's weights as they will sit in memory, read from its graphs' initializers (the small
 * model.onnx files; external data is never read). A float initializer that feeds only a Cast
 * becomes the Cast's type in memory (onnxruntime folds it at load), which for the converted graphs
 * is the compute type; one used as it is costs its stored bytes, unless the bundle has a float16
 * transformer graph too, whose weights take the compute type either way. Integer initializers other
 * than int64/int32 (shapes, indices) are quantised blocks (MatMulNBits) and cost their bytes.
 */
import { statSync } from 'node:fs';
import { TensorProto_DataLocation } from 'onnx-buf';
import { analyzeTransformer } from '../import/index.ts';
import { readModel } from '../onnx/graph.ts';
import { bytesPerElement, dtypeName } from '../onnx/proto.ts';
import type { ModelMemory } from './plan.ts';
import { addWeights, FLOAT_BYTES, type ComponentWeights } from './weights.ts';

/** A model.onnx over this size holds its weights inline: they are counted by the file's size. */
const INLINE_GRAPH_LIMIT = 256 * 2 ** 20;

const INDEX_TYPES = new Set(['int64', 'int32', 'bool']);

export interface GraphWeights extends ComponentWeights {
  /** The most common dimension among the weights: the model's width (FLUX: 3072, T5-XXL: 4096). */
  width: number;
}

/** `computeTyped`: every float weight takes the compute type (converted bundles with a float16 graph). */
export function graphWeights(path: string, opts: { computeTyped?: boolean } = {}): GraphWeights {
  const size = statSync(path).size;
  if (size > INLINE_GRAPH_LIMIT) return { floatElements: 0, quantizedBytes: size, stored: { inline: size }, width: 0 };
  const { graph } = readModel(path);
  const consumers = new Map<string, string[]>();
  for (const node of graph.node) for (const input of node.input) consumers.set(input, [...(consumers.get(input) ?? []), node.opType]);
  let floatElements = 0;
  let quantizedBytes = 0;
  const stored: Record<string, number> = {};
  const dims = new Map<number, number>();
  for (const t of graph.initializer) {
    const type = dtypeName(t.dataType);
    if (INDEX_TYPES.has(type)) continue;
    const elements = t.dims.reduce((n, d) => n * Number(d), 1);
    const external = t.dataLocation === TensorProto_DataLocation.EXTERNAL;
    const length = external ? Number(t.externalData.find((e) => e.key === 'length')?.value ?? elements * bytesPerElement(t.dataType)) : t.rawData.length || elements * bytesPerElement(t.dataType);
    stored[type] = (stored[type] ?? 0) + length;
    for (const d of t.dims) if (Number(d) >= 64) dims.set(Number(d), (dims.get(Number(d)) ?? 0) + 1);
    if (FLOAT_BYTES[type] === undefined) quantizedBytes += length;
    else if (opts.computeTyped || (consumers.get(t.name) ?? []).every((op) => op === 'Cast')) floatElements += elements;
    else quantizedBytes += length; // used as stored, whatever the compute type
  }
  const width = [...dims].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? 0;
  return { floatElements, quantizedBytes, stored, width };
}

/** A bundle's graphs, and the sizes from its dype.json that activations scale with. */
export interface BundleGraphs {
  transformer: string;
  /** The float16 transformer graph, when the bundle has one. */
  halfTransformer: string | null;
  /** Every text encoder's graph (they run together, one stage). */
  textEncoders: readonly string[];
  vaeDecoder: string;
  vaeEncoder: string | null;
}

export interface BundleSizes {
  pixelsPerToken: number;
  /** Text tokens the transformer takes beside the image (the longest prompt length; FLUX.1: T5's 512). */
  textTokens: number;
  vaeScaleFactorPx: number;
  /** Tiled decode's tile side in latent pixels. */
  decodeTile: number;
}

/**
 * What the planner needs of a bundle, read from its graphs (small files; no weight is read). Unfused
 * attention counts its heads from the export's config.json, else one per 32 hidden features (more
 * heads than any FLUX-family model has, so the plan errs towards refusing).
 */
export function bundleModelMemory(graphs: BundleGraphs, sizes: BundleSizes): ModelMemory {
  const { width: hidden, ...transformer } = graphWeights(graphs.transformer, { computeTyped: graphs.halfTransformer !== null });
  const { attention, heads } = analyzeTransformer(graphs.transformer, { pixelsPerToken: sizes.pixelsPerToken, textTokens: sizes.textTokens });
  const unfusedHeads = attention.unfusedCount > 0 ? (heads ?? Math.ceil(hidden / 32)) : 0;
  const strip = ({ width: _width, ...w }: GraphWeights): ComponentWeights => w;
  const encoders = graphs.textEncoders.map((path) => graphWeights(path));
  const vae = graphWeights(graphs.vaeDecoder);
  return {
    weights: {
      transformer,
      textEncoders: addWeights(...encoders.map(strip)),
      vaeDecoder: strip(vae),
      vaeEncoder: graphs.vaeEncoder ? strip(graphWeights(graphs.vaeEncoder)) : null,
    },
    transformer: { hidden, textTokens: sizes.textTokens, pixelsPerToken: sizes.pixelsPerToken, halfGraph: graphs.halfTransformer !== null, unfusedHeads },
    textEncoder: { tokens: sizes.textTokens, width: Math.max(0, ...encoders.map((e) => e.width)) },
    vae: { scaleFactorPx: sizes.vaeScaleFactorPx, tile: sizes.decodeTile, width: vae.width },
  };
}
