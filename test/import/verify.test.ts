// The self-check: native RoPE alone cannot see a mis-wired import; the DyPE comparison must.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../runtime/files/atomic.ts';
import { GraphIndex, readModel, serializeModel } from '../../runtime/onnx/graph.ts';
import { findRope, ropeOffsets, rewriteRope, type RopeSliceOffsets } from '../../runtime/import/rope.ts';
import { dypeProbeRope, verifyTransformer, writeDypeReference } from '../../runtime/import/verify.ts';
import { FIXTURE_DIMS, type TransformerFixtureOptions } from './fixtures/export.ts';
import { maxAbs, maxAbsDiff, positions, runTransformer, tempRoot, writeFixtureTransformer } from './fixtures/run.ts';

const { root, cleanup } = tempRoot('dype-import-verify-');
afterAll(cleanup);

let counter = 0;
const rope = { axesDim: [...FIXTURE_DIMS.ropeAxesDim], theta: FIXTURE_DIMS.ropeTheta };

/** The fixture, its DyPE reference, and its import (with the given slice offsets: a mis-wired one when they are wrong). */
async function prepare(options: TransformerFixtureOptions, wire?: (natural: number[]) => RopeSliceOffsets) {
  const dir = join(root, `v${counter++}`);
  const original = await writeFixtureTransformer(dir, options);
  const model = readModel(original);
  const dypeReference = join(dir, 'reference-dype.onnx');
  await writeDypeReference(model, dypeReference, rope);
  const pattern = findRope(new GraphIndex(model.graph), model.dir);
  rewriteRope(model, pattern, wire?.(ropeOffsets(pattern)));
  const candidate = join(dir, 'imported.onnx');
  await writeFileAtomic(candidate, serializeModel(model));
  return { original, dypeReference, candidate };
}

const FORMS: [string, TransformerFixtureOptions][] = [
  ['float32 ω, Einsum, Tile', {}],
  ['float64 ω and positions, Mul, cast after the interleave', { freqDtype: 'float64', outer: 'mul', castAfterInterleave: true, interleave: 'expand' }],
  ['float16 ω Cast to float32, shared by two axes', { freqDtype: 'float16', freqCast: true, sharedFrequencies: true }],
  ['float16 I/O', { io: 'float16' }],
];

describe('the DyPE probe', () => {
  it('gives every axis its own ω and an mscale ≠ 1, float32-exact', () => {
    const p = dypeProbeRope(rope);
    const [a0, a1, a2] = [p.omega.subarray(0, 2), p.omega.subarray(2, 9), p.omega.subarray(9, 16)];
    expect(p.omega.length).toBe(16);
    expect(Array.from(a1)).not.toEqual(Array.from(a2)); // natively axes 1 and 2 share ω
    expect(a0[0]).not.toBe(a1[0]);
    expect(new Set(p.axisMscale).size).toBe(3);
    expect(p.axisMscale.every((m) => m !== 1 && m === Math.fround(m))).toBe(true);
    expect(Array.from(p.mscale)).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2].map((a) => p.axisMscale[a]));
  });

  // The reference must be the graph natively built with those values: here, the fixture builder's own
  // baked variant (frequency constants and scaled cos/sin tables made at build time).
  it.each(FORMS)('%s: the reference equals the fixture built with the probe ω and mscale', async (_label, options) => {
    const { dypeReference } = await prepare(options);
    const p = dypeProbeRope(rope);
    const built = await writeFixtureTransformer(join(root, `built${counter++}`), { ...options, baked: { omega: p.omega, mscale: p.mscale } });
    const input = { imgIds: positions([0, 1, 3], [0, 2, 3]).map((v, i) => (i % 3 === 0 ? 1 + (i % 2) : v)), textTokens: 5 };
    const ref = await runTransformer(built, input);
    const out = await runTransformer(dypeReference, input);
    expect(maxAbsDiff(out, ref)).toBeLessThanOrEqual((options.io === 'float16' ? 2e-3 : 2e-5) * Math.max(1, maxAbs(ref)));
  });
});

describe('verifyTransformer', () => {
  it.each(FORMS)('%s: a correct import passes both comparisons, reporting both differences', async (_label, options) => {
    const { original, dypeReference, candidate } = await prepare(options);
    const precision = options.io === 'float16' ? 'float16' : 'float32';
    const v = await verifyTransformer({ reference: original, candidate, dypeReference }, rope, precision);
    expect(v.passed).toBe(true);
    expect(v.native.passed).toBe(true);
    expect(v.dype?.passed).toBe(true);
    expect(v.dype!.maxAbsDiff).toBeLessThanOrEqual(v.dype!.tolerance);
    expect(v.dype!.maxAbsRef).toBeGreaterThan(0.1);
  });

  // Slices of rope_omega/rope_mscale wired to the wrong axes: invisible with native ω (axes 1 and 2
  // have the same ω) and mscale 1; the DyPE comparison must fail.
  const swap = (o: number[], a: number, b: number) => o.map((x, k) => (k === a ? o[b] : k === b ? o[a] : x));
  const MISWIRED: [string, (natural: number[]) => RopeSliceOffsets][] = [
    ['ω slices of the spatial axes swapped', (o) => ({ omega: swap(o, 1, 2), mscale: o })],
    ['mscale slices of the spatial axes swapped', (o) => ({ omega: o, mscale: swap(o, 1, 2) })],
    ["axis 0 scaled by axis 2's mscale", (o) => ({ omega: o, mscale: [o[2], o[1], o[2]] })],
  ];
  it.each(MISWIRED)('%s: fails verification, though native RoPE alone passes', async (_label, wire) => {
    const { original, dypeReference, candidate } = await prepare({}, wire);
    const v = await verifyTransformer({ reference: original, candidate, dypeReference }, rope, 'float32');
    expect(v.native.passed).toBe(true);
    expect(v.native.maxAbsDiff).toBe(0);
    expect(v.dype?.passed).toBe(false);
    expect(v.passed).toBe(false);
    expect(v.dype!.maxAbsDiff).toBeGreaterThan(100 * v.dype!.tolerance);
  });

  it('the same for an axis-swapped import of a shared-frequency float16-ω export', async () => {
    const wire = MISWIRED[0][1];
    const { original, dypeReference, candidate } = await prepare({ freqDtype: 'float16', freqCast: true, sharedFrequencies: true, outer: 'mul' }, wire);
    const v = await verifyTransformer({ reference: original, candidate, dypeReference }, rope, 'float32');
    expect([v.native.passed, v.dype?.passed]).toEqual([true, false]);
  });
});
