// GraphBuilder's additions for converted checkpoints: ops recorded once in their opset-17 form are
// written in the target opset's form; initializers can stay in a file beside the model; operator
// domains are declared. Each model runs in a real onnxruntime-node session.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';

const root = mkdtempSync(join(tmpdir(), 'dype-builder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** mean(x², last axis) and three equal parts of x, written in one form. */
function reduceAndSplit(): GraphBuilder {
  const b = new GraphBuilder('g');
  const x = b.input('x', 'float32', [2, 6]);
  b.op('ReduceMean', [b.op('Mul', [x, x])], { axes: [-1], keepdims: 1 }, { outputs: ['mean'] });
  b.opN('Split', [x], 3, { axis: 1 }, { outputs: ['a', 'b', 'c'] });
  for (const name of ['a', 'b', 'c']) b.output(name, 'float32', [2, 2]);
  b.output('mean', 'float32', [2, 1]);
  return b;
}

async function run(model: Uint8Array | string, feeds: Record<string, ort.Tensor>) {
  const session = await ort.InferenceSession.create(model as Uint8Array);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

describe('GraphBuilder', () => {
  it.each([17, 19])('writes Reduce and Split for opset %i, with the same results', async (opset) => {
    const x = new ort.Tensor('float32', Float32Array.from({ length: 12 }, (_, i) => i - 5), [2, 6]);
    const out = await run(reduceAndSplit().serialize({ opset }).model, { x });
    expect(Array.from(out.mean.data as Float32Array)).toEqual([(25 + 16 + 9 + 4 + 1 + 0) / 6, (1 + 4 + 9 + 16 + 25 + 36) / 6].map(Math.fround));
    expect(Array.from(out.c.data as Float32Array)).toEqual([-1, 0, 5, 6]);
  });

  it('points an initializer at bytes inside another file, at an unaligned offset, and casts bfloat16', async () => {
    // bf16 of 1.5, −2, 0.25 are the high halves of their float32 bits: 0x3FC0, 0xC000, 0x3E80.
    const blob = Buffer.concat([Buffer.from('13 bytes junk'), Buffer.from([0xc0, 0x3f, 0x00, 0xc0, 0x80, 0x3e])]);
    writeFileSync(join(root, 'weights.bin'), blob);
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [3]);
    const w = b.initExternal('w', 'bfloat16', [3], { location: 'weights.bin', offset: 13, length: 6 });
    b.op('Mul', [x, b.op('Cast', [w], { to: 1 })], {}, { outputs: ['y'] });
    b.output('y', 'float32', [3]);
    expect(b.initializerBytes).toBe(0);
    writeFileSync(join(root, 'model.onnx'), b.serialize().model);
    const out = await run(join(root, 'model.onnx'), { x: new ort.Tensor('float32', Float32Array.of(2, 3, 4), [3]) });
    expect(Array.from(out.y.data as Float32Array)).toEqual([3, -6, 1]);
  });

  it('declares the com.microsoft domain when an op uses it', async () => {
    const b = new GraphBuilder('g');
    const q = b.input('q', 'float32', [1, 2, 4]);
    b.op('MultiHeadAttention', [q, q, q], { num_heads: 2 }, { outputs: ['o'], domain: 'com.microsoft' });
    b.output('o', 'float32', [1, 2, 4]);
    const out = await run(b.serialize().model, { q: new ort.Tensor('float32', new Float32Array(8).fill(1), [1, 2, 4]) });
    expect(Array.from(out.o.data as Float32Array)).toEqual(new Array(8).fill(1));
    expect(() => {
      const bad = new GraphBuilder('g');
      bad.op('Foo', [], {}, { domain: 'com.example' });
      bad.serialize();
    }).toThrow(/com\.example has no known opset version/);
  });
});
