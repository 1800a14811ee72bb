/**
 * The MatMulNBits form of each GGUF type (./runtime/convert/gguf/types.ts) against a float32 MatMul
 * at M = 512, K = N = 3072 on one CPU thread, with int8 (accuracy_level 4) and float32 (1)
 * activations: what the exact forms, the widened ones and the minimum's extra product (Q5_1/Q5_K
 * offsets) cost per product.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { packNBits, type UnpackedBlocks } from '../runtime/convert/gguf/repack.ts';
import { NBITS_MAPPINGS, type QuantizedType } from '../runtime/convert/gguf/types.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../runtime/convert/index.ts';
import { packedMatMul } from '../runtime/convert/layers.ts';
import { PackedWeightsFile } from '../runtime/convert/packed-weights.ts';
import { GraphBuilder } from '../runtime/onnx/builder.ts';
import { timeIt, type BenchResult } from './timing.ts';

const M = 512;
const K = 3072;
const N = 3072;

function randomBlocks(type: QuantizedType): UnpackedBlocks {
  const { bits, block, zero } = NBITS_MAPPINGS[type];
  const groups = (N * K) / block;
  const u: UnpackedBlocks = {
    bits, block, rows: N, cols: K,
    codes: Uint8Array.from({ length: N * K }, () => Math.floor(Math.random() * 2 ** bits)),
    scales: Float32Array.from({ length: groups }, () => 0.001 + Math.random() * 0.001),
  };
  if (zero === 'float') u.zeros = Float32Array.from({ length: groups }, () => Math.random() * (2 ** bits - 1));
  if (zero === 'offsets') u.offsets = Float32Array.from({ length: groups }, () => (Math.random() - 0.5) * 0.01);
  return u;
}

async function session(path: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

export async function benchNBitsForms(): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'dype-bench-nbits-'));
  const x = new ort.Tensor('float32', Float32Array.from({ length: M * K }, () => Math.random() - 0.5), [M, K]);
  try {
    const results: BenchResult[] = [];
    const float = new GraphBuilder('f32');
    const a = float.input('x', 'float32', [M, K]);
    float.op('MatMul', [a, float.initFloat('w', Float32Array.from({ length: K * N }, () => Math.random() * 0.01), [K, N])], {}, { outputs: ['y'] });
    float.output('y', 'float32', [M, N]);
    const fp32Path = join(root, 'f32.onnx');
    writeFileSync(fp32Path, float.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
    const fp32 = await session(fp32Path);
    const base = await timeIt(`float32 MatMul ${M}×${K}·${K}×${N}`, () => fp32.run({ x }));
    await fp32.release();
    results.push({ ...base, ratio: 1 });
    for (const [type, level] of (Object.keys(NBITS_MAPPINGS) as QuantizedType[]).flatMap((t) => [[t, 4], [t, 1]] as const)) {
      const dir = join(root, `${type}-${level}`);
      mkdirSync(dir);
      const b = new GraphBuilder(type);
      const out = new PackedWeightsFile(dir);
      const input = b.input('x', 'float32', [M, K]);
      b.op('Identity', [packedMatMul(b, input, out.linear(b, 'w', packNBits(randomBlocks(type)), level))], {}, { outputs: ['y'] });
      out.close();
      b.output('y', 'float32', [M, N]);
      writeFileSync(join(dir, 'model.onnx'), b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
      const s = await session(join(dir, 'model.onnx'));
      const m = NBITS_MAPPINGS[type];
      const r = await timeIt(`${type} as ${m.bits}-bit, block ${m.block}, ${m.zero} zero point, accuracy ${level}`, () => s.run({ x }));
      await s.release();
      results.push({ ...r, ratio: r.medianMs / base.medianMs, note: m.form });
    }
    return results;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename) {
  const { printResults } = await import('./timing.ts');
  printResults(`MatMulNBits forms of the GGUF types vs float32 (M ${M}, K = N = ${K}, 1 thread)`, await benchNBitsForms());
}
