// GGUF checkpoints converted to MatMulNBits graphs, against the project's numpy GGUF reference
// (test/convert/reference-gguf: writer and dequantizer after ggml's dequantize_row_*, checked
// against city96's dequant.py) and torch outputs from the dequantized weights.
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataType } from '../../runtime/onnx/proto.ts';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { readGgufHeader } from '../../runtime/convert/gguf/read.ts';
import { packNBits, unpackGguf, type NBitsWeights } from '../../runtime/convert/gguf/repack.ts';
import { GgufWeightSource } from '../../runtime/convert/gguf/source.ts';
import { NBITS_MAPPINGS, type QuantizedType } from '../../runtime/convert/gguf/types.ts';
import { packedMatMul } from '../../runtime/convert/layers.ts';
import { PackedWeightsFile } from '../../runtime/convert/packed-weights.ts';
import { buildT5Encoder, deriveT5Config } from '../../runtime/convert/t5.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../../runtime/convert/index.ts';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { readModel } from '../../runtime/onnx/graph.ts';
import { createSession } from '../../runtime/pipeline/ort.ts';
import { GGUF_FIXTURES, convertGgufTransformer, maxAbsDiff, runOnReference, tempRoot } from './helpers/flux-fixtures.ts';
import { maxAbs } from '../helpers/compare.ts';

interface GgufReference {
  transformer: Record<string, { types: Record<string, string>; native: number[]; dype: number[] }>;
  t5: Record<string, { config: { width: number }; input_ids: number[]; last_hidden_state: number[] }>;
  blocks: Record<QuantizedType, { product: number[] }>;
  blocks_input: number[];
}

const REFERENCE = JSON.parse(readFileSync(join(GGUF_FIXTURES, 'reference.json'), 'utf8')) as GgufReference;
const { root, cleanup } = tempRoot('dype-gguf-');
afterAll(cleanup);

/**
 * accuracy_level 1 computes in float32 on dequantized blocks, so the graph is the reference's
 * arithmetic up to float32 rounding: the float32 tolerance of the safetensors tests (1e-4).
 * accuracy_level 4 (what dype convert writes for 8-bit blocks: int8 activations on CPU) rounds each activation block
 * to 8 bits, |error| ≤ max|x|/254 per element: at most 2⁻⁸ of the product's scale per product, and
 * the toy model has 10 products in series (embedder, 2 double blocks × 2, 2 single blocks × 2,
 * final layer), so the output stays within 10 · 2⁻⁸ ≈ 4% of its range.
 */
const FLOAT32_TOLERANCE = 1e-4;
const INT8_RELATIVE = 10 / 256;

let dirs = 0;
const fresh = () => join(root, `m${dirs++}`);

/** x [3, 512] · Wᵀ through MatMulNBits with `weights`, in a real session. */
async function product(weights: NBitsWeights, accuracyLevel = 1): Promise<Float32Array> {
  const dir = fresh();
  mkdirSync(dir);
  const b = new GraphBuilder('blocks');
  const out = new PackedWeightsFile(dir);
  const x = b.input('x', 'float32', [3, weights.k]);
  b.op('Identity', [packedMatMul(b, x, out.linear(b, 'w', weights, accuracyLevel))], {}, { outputs: ['y'] });
  out.close();
  b.output('y', 'float32', [3, weights.n]);
  writeFileSync(join(dir, 'model.onnx'), b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
  const session = await createSession(join(dir, 'model.onnx'), 'cpu');
  try {
    const y = await session.run({ x: { type: 'float32', data: Float32Array.from(REFERENCE.blocks_input), dims: [3, weights.k] } });
    return y.y.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('GGUF blocks → MatMulNBits', async () => {
  const header = await readGgufHeader(join(GGUF_FIXTURES, 'blocks.gguf'));
  const weightsOf = (type: QuantizedType) => {
    const t = header.tensors.get(`blocks.${type}.weight`)!;
    expect(t.type).toBe(type);
    return packNBits(unpackGguf(type, new Uint8Array(readFileSync(t.file).subarray(t.byteOffset, t.byteOffset + t.byteLength)), t.shape[0], t.shape[1]));
  };

  it.each(Object.keys(REFERENCE.blocks) as QuantizedType[])('%s: the product equals the dequantized reference', async (type) => {
    const w = weightsOf(type);
    expect({ bits: w.bits, block: w.block }).toEqual({ bits: NBITS_MAPPINGS[type].bits, block: NBITS_MAPPINGS[type].block });
    expect(maxAbsDiff(await product(w), REFERENCE.blocks[type].product)).toBeLessThan(FLOAT32_TOLERANCE);
  });

  // Each layout mistake a repacker can make, applied to the correct weights: every one is far outside the tolerance.
  const swapNibbles = (w: NBitsWeights): NBitsWeights => ({ ...w, b: w.b.map((v) => ((v & 0xf) << 4) | (v >> 4)) });
  const dropZeros = (w: NBitsWeights): NBitsWeights => ({ ...w, zeros: undefined });
  const signedCodes = (w: NBitsWeights): NBitsWeights => ({ ...w, b: w.b.map((v) => v ^ 0x80) }); // int8 stored as is, no +128
  const transposeScales = (w: NBitsWeights): NBitsWeights => {
    const blocks = w.k / w.block;
    const t = new Float32Array(w.scales.length);
    for (let n = 0; n < w.n; n++) for (let j = 0; j < blocks; j++) t[j * w.n + n] = w.scales[n * blocks + j];
    return { ...w, scales: t };
  };
  const dropOffsets = (w: NBitsWeights): NBitsWeights => ({ ...w, offsets: undefined });
  it.each([
    ['Q4_0', 'nibble order', swapNibbles],
    ['Q4_K', 'nibble order', swapNibbles],
    ['Q4_1', 'block offsets', dropOffsets],
    ['Q2_K', 'zero point', dropZeros],
    ['Q8_0', 'zero point (q + 128)', signedCodes],
    ['Q6_K', 'scale layout', transposeScales],
    ['Q3_K', 'scale layout', transposeScales],
    ['Q5_K', 'block offsets', dropOffsets],
  ] as const)('%s with a wrong %s fails the tolerance', async (type, _what, mistake) => {
    const reference = REFERENCE.blocks[type].product;
    const error = maxAbsDiff(await product(mistake(weightsOf(type))), reference);
    expect(error).toBeGreaterThan(100 * FLOAT32_TOLERANCE);
    expect(error / maxAbs(reference)).toBeGreaterThan(INT8_RELATIVE); // outside the int8-activation tolerance too
  });
});

describe('GGUF FLUX.1 transformer (city96 layout, BFL keys, mixed types)', () => {
  it.each(Object.keys(REFERENCE.transformer))('%s equals the reference at native RoPE and DyPE ω/mscale', async (file) => {
    const reference = REFERENCE.transformer[file];
    const { path, config, counts } = await convertGgufTransformer(join(GGUF_FIXTURES, file), fresh(), 1);
    expect(config).toMatchObject({ naming: 'bfl', guidance: true, depth: 2, depthSingle: 2, hidden: 64 });
    const types = Object.values(reference.types);
    for (const type of new Set(types)) expect(counts[type as QuantizedType]?.tensors).toBe(types.filter((t) => t === type).length);
    const native = await runOnReference(path, config, 'native');
    const dype = await runOnReference(path, config, 'dype');
    expect(maxAbsDiff(native, reference.native)).toBeLessThan(FLOAT32_TOLERANCE);
    expect(maxAbsDiff(dype, reference.dype)).toBeLessThan(FLOAT32_TOLERANCE);
    expect(maxAbsDiff(native, dype)).toBeGreaterThan(100 * FLOAT32_TOLERANCE);
  });

  it('keeps the blocks as blocks when onnxruntime optimizes the graph: no float copy of a quantized weight', async () => {
    const file = 'flux-dev-mixed-b.gguf';
    const dir = fresh();
    const { path } = await convertGgufTransformer(join(GGUF_FIXTURES, file), dir);
    const optimized = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(path, { optimizedModelFilePath: optimized, graphOptimizationLevel: 'all' });
    await session.release();
    const model = readModel(optimized);
    const quantized = Object.entries(REFERENCE.transformer[file].types).filter(([, t]) => t.startsWith('Q')).map(([key]) => key);
    expect(model.graph.node.filter((n) => n.opType === 'MatMulNBits')).toHaveLength(quantized.length);
    const floats = new Set(model.graph.initializer.filter((t) => t.dataType === DataType.FLOAT && t.dims.length === 2).map((t) => t.name));
    for (const key of quantized) expect([...floats].filter((name) => name.startsWith(key))).toEqual([`${key}:scales`, `${key}:offsets`].filter((n) => floats.has(n)));
  });

  it('with the converter’s default accuracy levels (int8 activations for the 8-bit blocks) stays within 2⁻⁸ per product', async () => {
    const file = 'flux-dev-mixed-a.gguf';
    const { path, config } = await convertGgufTransformer(join(GGUF_FIXTURES, file), fresh());
    const reference = REFERENCE.transformer[file];
    for (const rope of ['native', 'dype'] as const) {
      const out = await runOnReference(path, config, rope);
      expect(maxAbsDiff(out, reference[rope]) / maxAbs(reference[rope])).toBeLessThan(INT8_RELATIVE); // measured: 0.4–0.5%
    }
  });
});

describe('GGUF T5 encoder (llama.cpp t5encoder names)', () => {
  it('renames to Hugging Face keys and equals the reference from the dequantized weights', async () => {
    const file = 't5-mixed.gguf';
    const reference = REFERENCE.t5[file];
    const header = await readGgufHeader(join(GGUF_FIXTURES, file));
    expect(header.architecture).toBe('t5encoder');
    expect(header.tensors.get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight')?.stored).toBe('enc.blk.0.attn_rel_b.weight');
    const dir = fresh();
    mkdirSync(dir);
    const g = new GraphBuilder('text_encoder_2');
    const out = new PackedWeightsFile(dir);
    const w = new GgufWeightSource(g, [header], file, out, { accuracyLevel: 1 });
    buildT5Encoder(g, w, deriveT5Config(w));
    out.close();
    writeFileSync(join(dir, 'model.onnx'), g.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
    expect(w.counts.Q8_0?.tensors).toBeGreaterThan(1); // the token embedding among them, gathered in float16
    const session = await createSession(join(dir, 'model.onnx'), 'cpu');
    try {
      const ids = reference.input_ids;
      const y = await session.run({ input_ids: { type: 'int64', data: BigInt64Array.from(ids.map(BigInt)), dims: [1, ids.length] } });
      expect(maxAbsDiff(y.last_hidden_state.data as Float32Array, reference.last_hidden_state)).toBeLessThan(FLOAT32_TOLERANCE);
    } finally {
      await session.release();
    }
  });
});

describe('GGUF files that are not whole are refused', () => {
  const source = join(GGUF_FIXTURES, 'flux-dev-mixed-a.gguf');
  const size = readFileSync(source).length;
  const cut = (bytes: number) => {
    const file = join(root, `cut-${bytes}.gguf`);
    copyFileSync(source, file);
    truncateSync(file, bytes);
    return file;
  };

  it('cut inside the tensor data: names the tensor and the file size', async () => {
    await expect(readGgufHeader(cut(size - 100))).rejects.toThrow(/tensor .* ends at byte \d+, past the end of the file \(\d+ bytes\): the file is truncated/);
  });

  it('cut inside the header', async () => {
    await expect(readGgufHeader(cut(600))).rejects.toThrow(/cut-600\.gguf: .*truncated|cut-600\.gguf: not a GGUF file, or corrupt/);
  });

  it('not GGUF at all, or an unknown block type', async () => {
    const notGguf = join(root, 'model.gguf');
    writeFileSync(notGguf, Buffer.from('{"not": "gguf"}'.padEnd(64)));
    await expect(readGgufHeader(notGguf)).rejects.toThrow(/model\.gguf: not a GGUF file, or corrupt/);
    // The first tensor's type id (IQ2_XXS = 16: no MatMulNBits form here).
    const bytes = readFileSync(join(GGUF_FIXTURES, 'blocks.gguf'));
    const at = bytes.indexOf(Buffer.from('blocks.Q8_0.weight')) + 'blocks.Q8_0.weight'.length + 4 + 16;
    const odd = join(root, 'odd.gguf');
    writeFileSync(odd, Buffer.concat([bytes.subarray(0, at), Buffer.from([16, 0, 0, 0]), bytes.subarray(at + 4)]));
    await expect(readGgufHeader(odd)).rejects.toThrow(/tensor blocks\.Q8_0\.weight has GGML type 16, which dype convert does not read/);
  });
});
