/** The Python reference's fixtures (test/convert/reference-encoders) and a runner for built graphs. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { GraphBuilder } from '../../../runtime/onnx/builder.ts';

export const FIXTURES = fileURLToPath(new URL('../reference-encoders/fixtures/', import.meta.url));

export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(FIXTURES + name, 'utf8')) as T;
}

/** Serialises the graph and runs it once in a real onnxruntime-node session. */
export async function runGraph(g: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(g.serialize({ opset: 17 }).model, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export const ids = (values: readonly number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);

/** Largest |a − b|, after checking that the shapes agree. */
export function maxAbsDiff(actual: ort.Tensor, expected: readonly number[], dims?: readonly number[]): number {
  if (dims) expect(actual.dims).toEqual(dims);
  const a = actual.data as Float32Array;
  expect(a.length).toBe(expected.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - expected[i]));
  return m;
}
