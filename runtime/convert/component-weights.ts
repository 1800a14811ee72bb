/**
 * Which weight source one component's graph reads, by how its checkpoint stores the weights:
 * safetensors as stored (external data in the hard-linked file), safetensors block-quantized by
 * `--quantize`, or GGUF repacked. The last two write the model folder's weights file; its size is
 * estimated from the headers before anything is written, so the converter can say it (and refuse a
 * disk that cannot hold it) first.
 */
import { statfsSync } from 'node:fs';
import { basename } from 'node:path';
import { formatBytes } from '../files/place.ts';
import type { GraphBuilder } from '../onnx/builder.ts';
import { GgufWeightSource } from './gguf/source.ts';
import { FLOAT_TYPES, NBITS_MAPPINGS, packedBytes, type QuantizedType } from './gguf/types.ts';
import { checkpointQuantization, type Checkpoint } from './inputs.ts';
import { PACKED_WEIGHTS_FILE, PackedWeightsFile } from './packed-weights.ts';
import { keepsStoredType, QuantizingWeightSource, QUANTIZE_BLOCK, QUANTIZE_BITS, type QuantizeMode } from './quantize.ts';
import type { SourceFile } from './source.ts';
import { SafetensorsWeightSource, type ComputeType, type ConversionCounts } from './source.ts';
import type { WeightSource } from './weights.ts';

/** Embedding tables: gathered by row, never multiplied, so never block-quantized. */
const EMBEDDING_KEYS = new Set(['shared.weight', 'encoder.embed_tokens.weight']);

export interface ComponentInput {
  checkpoint: Checkpoint;
  prefix: string;
}

export interface ComponentWeights {
  source: WeightSource;
  /** Safetensors dtype counts (as stored); empty for GGUF. */
  conversions: ConversionCounts;
  /** GGUF block type(s), or `q8 (--quantize)`; undefined for float weights used as stored. */
  quantization?: string;
  /** Closes the weights file; returns its size (0 when none was written). */
  finish(): number;
}

/** A description of the component's checkpoint for messages: its file and key prefix. */
function originOf(c: ComponentInput): string {
  return basename(c.checkpoint.path) + (c.prefix ? ` (${c.prefix}*)` : '');
}

function safetensorsFiles(c: ComponentInput): SourceFile[] {
  return c.checkpoint.headers.map((header) => ({ header, location: basename(header.file), prefix: c.prefix }));
}

/** Bytes the weights file will take: repacked GGUF blocks, quantized Linear weights, or nothing. */
export function plannedWeightsBytes(c: ComponentInput, quantize: QuantizeMode | undefined): number {
  let total = 0;
  if (c.checkpoint.gguf) {
    for (const t of c.checkpoint.gguf.tensors.values()) {
      if (!t.key.startsWith(c.prefix)) continue;
      const elements = t.shape.reduce((a, b) => a * b, 1);
      if (FLOAT_TYPES.has(t.type)) total += t.byteLength;
      else if (EMBEDDING_KEYS.has(t.key.slice(c.prefix.length)) || t.shape.length !== 2) total += elements * 2; // float16
      else total += packedBytes(NBITS_MAPPINGS[t.type as QuantizedType], t.shape[0], t.shape[1]);
    }
    return total;
  }
  if (!quantize) return 0;
  for (const h of c.checkpoint.headers) {
    for (const t of h.tensors.values()) {
      const key = t.key.slice(c.prefix.length);
      if (!t.key.startsWith(c.prefix) || !key.endsWith('.weight') || keepsStoredType(key) || EMBEDDING_KEYS.has(key) || t.shape.length !== 2 || t.shape[1] % QUANTIZE_BLOCK) continue;
      total += packedBytes({ bits: QUANTIZE_BITS[quantize], block: QUANTIZE_BLOCK, zero: 'default' }, t.shape[0], t.shape[1]);
    }
  }
  return total;
}

/** Refuses a folder whose disk cannot hold `bytes` more. */
export function checkFreeSpace(folder: string, bytes: number, what: string): void {
  const fs = statfsSync(folder);
  const free = fs.bavail * fs.bsize;
  if (bytes > free) throw new Error(`${what} needs ${formatBytes(bytes)} for ${PACKED_WEIGHTS_FILE}, but only ${formatBytes(free)} is free on the bundle's disk`);
}

/**
 * The weight source for one component's graph. `folder` is the model folder to write the weights
 * file into (null: shapes only, nothing written); `quantize` applies to float safetensors only.
 */
export function componentWeights(b: GraphBuilder, c: ComponentInput, folder: string | null, quantize?: QuantizeMode, compute: ComputeType = 'float32'): ComponentWeights {
  const origin = originOf(c);
  const open = () => (folder ? new PackedWeightsFile(folder) : null);
  if (c.checkpoint.gguf) {
    const out = open();
    const source = new GgufWeightSource(b, [c.checkpoint.gguf], origin, out, { prefix: c.prefix });
    return { source, conversions: {}, quantization: checkpointQuantization(c.checkpoint) ?? undefined, finish: () => close(out) };
  }
  const stored = new SafetensorsWeightSource(b, safetensorsFiles(c), origin, compute);
  const out = quantize ? open() : null;
  if (!quantize) return { source: stored, conversions: stored.conversions, finish: () => 0 };
  const source = out ? new QuantizingWeightSource(stored, b, out, quantize) : stored;
  return { source, conversions: stored.conversions, quantization: `${quantize} (--quantize)`, finish: () => close(out) };
}

function close(out: PackedWeightsFile | null): number {
  if (!out) return 0;
  out.close();
  return out.bytes;
}
