// Weights as a bundle's graphs say they will sit in memory: the tiny FLUX.1 fixtures converted to
// float32 and float16 graphs (real converter), read back without loading a weight.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { graphWeights } from '../../runtime/memory/graph-weights.ts';
import { weightBytesInMemory } from '../../runtime/memory/weights.ts';
import { FLUX_FIXTURES, convertTransformer, tempRoot } from '../convert/helpers/flux-fixtures.ts';

const { root, cleanup } = tempRoot('dype-graph-weights-');
afterAll(cleanup);

async function fixtureTally(file: string) {
  const header = await readSafetensorsHeader(join(FLUX_FIXTURES, file));
  let elements = 0;
  let bytes = 0;
  for (const t of header.tensors.values()) {
    elements += t.shape.reduce((a, b) => a * b, 1);
    bytes += t.byteLength;
  }
  return { elements, bytes };
}

describe('graph weights', () => {
  it('a bf16 checkpoint: every weight is Cast, so it takes the compute type; the stored bytes are the checkpoint’s', async () => {
    const { path } = await convertTransformer([join(FLUX_FIXTURES, 'flux-dev-bf16.safetensors')], join(root, 'bf16'), 'bfl');
    const tally = await fixtureTally('flux-dev-bf16.safetensors');
    const w = graphWeights(path);
    expect(w.stored.bfloat16).toBe(tally.bytes);
    // The graph's own constants (LayerNorm ones, timestep frequencies) are float too, and few.
    expect(w.floatElements).toBeGreaterThanOrEqual(tally.elements);
    expect(w.floatElements - tally.elements).toBeLessThan(0.05 * tally.elements);
    expect(w.width).toBe(64); // the fixture's hidden width
    expect(weightBytesInMemory(w, 'float32') / weightBytesInMemory(w, 'float16')).toBeCloseTo(2, 2);
  });

  it('an f16 checkpoint in the float16 graph is used as stored: its bytes, whatever the compute type', async () => {
    const { path } = await convertTransformer([join(FLUX_FIXTURES, 'flux-dev-f16.safetensors')], join(root, 'f16'), 'bfl', 'float16');
    const tally = await fixtureTally('flux-dev-f16.safetensors');
    const asStored = graphWeights(path);
    expect(asStored.quantizedBytes).toBeGreaterThanOrEqual(tally.bytes);
    expect(weightBytesInMemory(asStored, 'float32') - weightBytesInMemory(asStored, 'float16')).toBeLessThan(0.05 * tally.bytes);
    // With a float16 twin, the float32 graph's weights follow the compute type.
    const typed = graphWeights(path, { computeTyped: true });
    expect(typed.quantizedBytes).toBe(0);
    expect(weightBytesInMemory(typed, 'float16')).toBeGreaterThanOrEqual(tally.bytes);
  });
});
