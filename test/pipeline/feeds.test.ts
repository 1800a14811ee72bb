// Feeds take the element type the graph declares (runtime/pipeline/ort.ts feedAs), checked with a real session.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { DataType } from '../../runtime/onnx/proto.ts';
import { createSession, feedAs, type Session, type TensorData } from '../../runtime/pipeline/ort.ts';

const dir = mkdtempSync(join(tmpdir(), 'dype-feeds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Echoes each input back as float32: ids as int64 and int32 (optimum's exports), a float16 activation, a bool flag. */
function echoGraph(): Uint8Array {
  const b = new GraphBuilder('echo');
  const inputs = [['img_ids', 'int64'], ['txt_ids', 'int32'], ['hidden_states', 'float16'], ['flag', 'bool']] as const;
  for (const [name, type] of inputs) {
    b.input(name, type, ['n', 3]);
    b.op('Cast', [name], { to: DataType.FLOAT }, { outputs: [`${name}_out`] });
    b.output(`${name}_out`, 'float32', ['n', 3]);
  }
  return b.serialize({ opset: 17 }).model;
}

const ids = Float32Array.of(0, 1, 2, 0, 3, 4);
const f32 = (data: Float32Array): TensorData => ({ type: 'float32', data, dims: [2, 3] });

describe('feeds take the element type the graph declares', () => {
  let session: Session;
  beforeAll(async () => {
    writeFileSync(join(dir, 'echo.onnx'), echoGraph());
    session = await createSession(join(dir, 'echo.onnx'), 'cpu');
  });
  afterAll(() => session.release());

  it('float32 positions become int64 and int32 ids, activations float16; a bool input is refused by name', async () => {
    const half = Float32Array.of(0.1, -2.5, 3, 65504, 1e-3, 7);
    const prepared = session.prepare('img_ids', f32(ids));
    expect(prepared.type).toBe('int64'); // converted once, ahead of the denoising loop
    const flag = { type: 'float32', data: Float32Array.of(0, 1, 0, 1, 1, 0), dims: [2, 3] } as const;
    await expect(session.run({ img_ids: prepared, txt_ids: f32(ids), hidden_states: f32(half), flag })).rejects.toThrow(
      /input flag has element type bool; the pipeline can feed float32, float16, float64, int64, int32/,
    );
  });

  it('converts exactly, and refuses fractional ids instead of rounding them', () => {
    const info = (type: string) => ({ name: 'img_ids', type, shape: ['n', 3] });
    expect(Array.from((feedAs(info('int64'), f32(ids)).data as BigInt64Array), Number)).toEqual(Array.from(ids));
    expect(Array.from(feedAs(info('int32'), f32(ids)).data as Int32Array)).toEqual(Array.from(ids));
    expect(Array.from(feedAs(info('float64'), { type: 'int64', data: BigInt64Array.of(5n, -2n), dims: [2] }).data as Float64Array)).toEqual([5, -2]);
    expect(() => feedAs(info('int64'), f32(Float32Array.of(0, 1.5, 2, 0, 0, 0)))).toThrow('input img_ids takes int64, but value 1.5 at index 1 is not an integer');
  });
});

describe('a graph with int64 and int32 ids runs from float32 positions', () => {
  it('echoes the positions back', async () => {
    const b = new GraphBuilder('ids');
    b.input('img_ids', 'int64', ['n', 3]);
    b.input('txt_ids', 'int32', ['m', 3]);
    b.op('Cast', ['img_ids'], { to: DataType.FLOAT }, { outputs: ['img'] });
    b.op('Cast', ['txt_ids'], { to: DataType.FLOAT }, { outputs: ['txt'] });
    b.output('img', 'float32', ['n', 3]);
    b.output('txt', 'float32', ['m', 3]);
    writeFileSync(join(dir, 'ids.onnx'), b.serialize({ opset: 17 }).model);
    const session = await createSession(join(dir, 'ids.onnx'), 'cpu');
    try {
      const out = await session.run({ img_ids: f32(ids), txt_ids: f32(ids) });
      expect(Array.from(out.img.data as Float32Array)).toEqual(Array.from(ids));
      expect(Array.from(out.txt.data as Float32Array)).toEqual(Array.from(ids));
    } finally {
      await session.release();
    }
  });
});
