/**
 * A test-only WeightSource: reads a small safetensors file whole and embeds each requested tensor
 * as a float32 initializer (F32 as stored, F16/BF16 widened exactly). The converter's real source
 * points at the checkpoint's bytes instead; the graphs the builders make are the same.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { GraphBuilder } from '../../../runtime/onnx/builder.ts';
import { readSafetensorsHeader, type SafetensorsHeader, type StoredTensor } from '../../../runtime/convert/safetensors.ts';
import { decodeFloats } from '../../../runtime/convert/quantize.ts';
import { MissingTensorError, type WeightSource } from '../../../runtime/convert/weights.ts';

export class InlineWeightSource implements WeightSource {
  readonly origin: string;
  private readonly values = new Map<string, string>();
  /** Keys whose value() was asked for: what the graph uses. */
  readonly used = new Set<string>();

  private constructor(
    private readonly header: SafetensorsHeader,
    private readonly bytes: Uint8Array,
    private readonly g: GraphBuilder,
    private readonly hide: ReadonlySet<string>,
  ) {
    this.origin = basename(header.file);
  }

  /** `hide` makes keys look absent (to test refusals of incomplete checkpoints). */
  static async open(file: string, g: GraphBuilder, hide: Iterable<string> = []): Promise<InlineWeightSource> {
    return new InlineWeightSource(await readSafetensorsHeader(file), readFileSync(file), g, new Set(hide));
  }

  has(key: string): boolean {
    return this.header.tensors.has(key) && !this.hide.has(key);
  }

  tensor(key: string): StoredTensor {
    const t = this.header.tensors.get(key);
    if (!t || this.hide.has(key)) throw new MissingTensorError(this.origin, key);
    return t;
  }

  shape(key: string): readonly number[] {
    return this.tensor(key).shape;
  }

  keys(prefix = ''): string[] {
    return [...this.header.tensors.keys()].filter((k) => k.startsWith(prefix) && !this.hide.has(k));
  }

  value(key: string): string {
    const hit = this.values.get(key);
    if (hit) return hit;
    const t = this.tensor(key);
    const data = decodeFloats(t, this.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength));
    const name = this.g.initFloat(key, data, t.shape);
    this.values.set(key, name);
    this.used.add(key);
    return name;
  }
}
