// RoPE detection and surgery on miniature exports, checked with real onnxruntime-node sessions.
import { afterAll, describe, expect, it } from 'vitest';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { fluxRopeFrequencies, type DypeOptions } from '../../runtime/dype/index.ts';
import { analyzeTransformer } from '../../runtime/import/analyze.ts';
import { ImportError } from '../../runtime/import/errors.ts';
import { writeFileAtomic } from '../../runtime/files/atomic.ts';
import { GraphIndex, readModel, serializeModel } from '../../runtime/onnx/graph.ts';
import { findRope, fitTheta, isOuterProductEquation, rewriteRope } from '../../runtime/import/rope.ts';
import { FIXTURE_DIMS, nativeOmega, type TransformerFixtureOptions } from './fixtures/export.ts';
import { maxAbs, maxAbsDiff, positions, runTransformer, tempRoot, writeFixtureTransformer } from './fixtures/run.ts';

const { root, cleanup } = tempRoot('dype-import-rope-');
afterAll(cleanup);

let counter = 0;
/** Writes the fixture and its imported twin; returns both paths. */
async function imported(options: TransformerFixtureOptions): Promise<{ original: string; rewritten: string }> {
  const dir = join(root, `t${counter++}`);
  const original = await writeFixtureTransformer(dir, options);
  const model = readModel(original);
  rewriteRope(model, findRope(new GraphIndex(model.graph), model.dir));
  const rewritten = join(dir, 'imported.onnx');
  await writeFileAtomic(rewritten, serializeModel(model));
  return { original, rewritten };
}

// Export forms seen in the wild (see fixtures/export.ts for how each is built).
const FORMS: [string, TransformerFixtureOptions, string][] = [
  ['TorchScript: float32 ω, Einsum, Tile', { outer: 'einsum', interleave: 'tile' }, 'Unsqueeze→Tile→Flatten'],
  ['Unsqueeze·Mul, Expand', { outer: 'mul', interleave: 'expand' }, 'Unsqueeze→Expand→Reshape'],
  ['float64 ω and positions, cast before the interleave', { freqDtype: 'float64', outer: 'mul' }, 'Cast→Unsqueeze→Tile→Flatten'],
  ['float64 ω and positions, cast after the interleave', { freqDtype: 'float64', castAfterInterleave: true, interleave: 'expand' }, 'Unsqueeze→Expand→Reshape→Cast'],
  ['float64 ω Cast to float32, shared by two axes', { freqDtype: 'float64', freqCast: true, sharedFrequencies: true }, 'Unsqueeze→Tile→Flatten'],
  ['float16 ω Cast to float32, shared, Mul form', { freqDtype: 'float16', freqCast: true, sharedFrequencies: true, outer: 'mul' }, 'Unsqueeze→Tile→Flatten'],
  ['float16 I/O, ω in external data', { io: 'float16', externalThreshold: 8 }, 'Unsqueeze→Tile→Flatten'],
  ['MatMul of [N,1] positions by a [1,d/2] frequency row', { rope: 'matmul' }, 'Unsqueeze→Tile→Flatten'],
];

describe('finding the in-graph RoPE', () => {
  it.each(FORMS)('%s', async (_label, options, interleave) => {
    const path = await writeFixtureTransformer(join(root, `a${counter++}`), options);
    const a = analyzeTransformer(path);
    expect(a.rope.status).toBe('in-graph');
    expect(a.rope.axesDim).toEqual([...FIXTURE_DIMS.ropeAxesDim]);
    expect(a.rope.theta).toBe(FIXTURE_DIMS.ropeTheta);
    expect(a.rope.axes!.map((x) => x.interleave)).toEqual([interleave, interleave, interleave]);
    expect(a.rope.axes!.map((x) => x.form)).toEqual(new Array(3).fill(options.rope === 'matmul' ? 'MatMul' : options.outer === 'mul' ? 'Unsqueeze·Mul' : 'Einsum'));
    // The timestep/guidance sinusoids (constant × input → Cos/Sin) are not RoPE.
    expect(a.rope.untouched).toEqual(['time_proj.cos/Cos (Cos)', 'time_proj.sin/Sin (Sin)', 'guidance_proj.cos/Cos (Cos)', 'guidance_proj.sin/Sin (Sin)']);
  });

  it('an Einsum is an outer product when the output is the positions\' indices then the frequency index', () => {
    for (const eq of ['i,j->ij', '...n,d->...nd', 'bn,d->bnd', 'b...n,d->b...nd']) expect(isOuterProductEquation(eq, 0)).toBe(true);
    expect(isOuterProductEquation('j,i->ij', 1)).toBe(true); // frequencies first
    for (const eq of ['i,j->ji', 'i,i->i', 'i,j->i', 'n,d->nd...', 'i,jk->ijk', '...n,d->nd', 'ii,j->iij', 'i,j']) expect(isOuterProductEquation(eq, 0)).toBe(false);
  });

  it('θ is fitted from the constants, rounded only where every frequency still fits', () => {
    expect(fitTheta(nativeOmega(56), 1e-9)).toEqual({ theta: 10000, error: expect.any(Number) });
    expect(fitTheta(Float32Array.from(nativeOmega(16, 256)), 1e-6).theta).toBe(256);
    expect(fitTheta(nativeOmega(16, 12345.6), 1e-9).theta).toBeCloseTo(12345.6, 6);
  });

  it('ambiguous: RoPE computed twice → error naming both sets of products', async () => {
    const path = await writeFixtureTransformer(join(root, `a${counter++}`), { rope: 'twice' });
    const model = readModel(path);
    const error = (() => {
      try {
        findRope(new GraphIndex(model.graph), model.dir);
      } catch (e) {
        return e as ImportError;
      }
    })();
    expect(error).toBeInstanceOf(ImportError);
    expect(error!.code).toBe('rope_ambiguous');
    expect(error!.message).toContain('pos_embed.freqs_0/Einsum');
    expect(error!.message).toContain('pos_embed_single.freqs_0/Einsum');
    expect(analyzeTransformer(path).rope.status).toBe('ambiguous');
  });

  it('not recognised: ids-fed Cos/Sin of positions minus a constant → error naming the Cos/Sin and the Sub', async () => {
    const path = await writeFixtureTransformer(join(root, `a${counter++}`), { rope: 'sub' });
    const model = readModel(path);
    expect(() => findRope(new GraphIndex(model.graph), model.dir)).toThrow(/pos_embed\.cos\/Cos \(Cos\) is fed by the ids, but its argument comes from pos_embed\.sub\/Sub/);
  });

  it('a truncated frequency constant (external data cut short) → a named "RoPE pattern not recognised" error, not a bare one', async () => {
    const path = await writeFixtureTransformer(join(root, `a${counter++}`), { externalThreshold: 8 });
    truncateSync(join(path, '..', 'model.onnx_data'), 0);
    const model = readModel(path);
    let error: ImportError | undefined;
    try {
      findRope(new GraphIndex(model.graph), model.dir);
    } catch (e) {
      error = e as ImportError;
    }
    expect(error).toBeInstanceOf(ImportError);
    expect(error?.code).toBe('rope_not_found');
    expect(error?.message).toMatch(/RoPE pattern not recognised:[\s\S]*truncated/);
    expect(analyzeTransformer(path).rope).toMatchObject({ status: 'not-found', error: expect.stringMatching(/truncated/) });
  });

  it('missing: no ids-fed Cos/Sin → error listing the Sin/Cos nodes and where they come from', async () => {
    const path = await writeFixtureTransformer(join(root, `a${counter++}`), { rope: 'absent' });
    const model = readModel(path);
    let error: ImportError | undefined;
    try {
      findRope(new GraphIndex(model.graph), model.dir);
    } catch (e) {
      error = e as ImportError;
    }
    expect(error?.code).toBe('rope_not_found');
    expect(error?.message).toContain('time_proj.cos/Cos (Cos) ← from timestep');
    expect(error?.message).toContain('guidance_proj.sin/Sin (Sin) ← from guidance');
  });
});

describe('the rewrite', () => {
  it('adds rope_omega/rope_mscale, removes the frequency constants and keeps every other node', async () => {
    const { original, rewritten } = await imported({ freqDtype: 'float64', freqCast: true, sharedFrequencies: true });
    const before = readModel(original).graph;
    const after = readModel(rewritten).graph;
    expect(after.input.map((i) => i.name).slice(-2)).toEqual(['rope_omega', 'rope_mscale']);
    const freqs = before.initializer.filter((t) => t.name.startsWith('pos_embed.')).map((t) => t.name);
    expect(freqs.length).toBe(2); // axis 0, and one shared by axes 1 and 2
    expect(after.initializer.some((t) => freqs.includes(t.name))).toBe(false);

    const signature = (n: { opType: string; input: string[]; output: string[] }) => `${n.opType}(${n.input.join(',')})→${n.output.join(',')}`;
    const kept = new Set(after.node.map(signature));
    const changed = before.node.filter((n) => !kept.has(signature(n)));
    // Only the frequency Casts, the three products (new ω operand) and the six Cos/Sin (output now scaled) differ.
    expect(changed.map((n) => n.opType).sort()).toEqual(['Cast', 'Cast', 'Cos', 'Cos', 'Cos', 'Einsum', 'Einsum', 'Einsum', 'Sin', 'Sin', 'Sin']);
    const added = after.node.filter((n) => n.name.startsWith('dype/')).map((n) => n.opType);
    expect(added.filter((op) => op === 'Slice').length).toBe(6);
    expect(added.filter((op) => op === 'Mul').length).toBe(6);
  });

  // Image tokens at 4× the native 16-token grid, non-square (64 rows × 32 columns) so that the two
  // spatial axes get different ω: a sample of positions spread over the whole grid.
  const rows = [0, 21, 42, 63];
  const cols = [0, 9, 20, 31];
  const grid = { height: 64, width: 32, textTokens: 6 };
  const yarn: DypeOptions = { method: 'yarn', dynamic: true, baseLength: 16, axesDim: [...FIXTURE_DIMS.ropeAxesDim], theta: FIXTURE_DIMS.ropeTheta };

  it.each(FORMS)('%s: native ω, mscale 1 reproduce the original', async (_label, options) => {
    const { original, rewritten } = await imported(options);
    const input = { imgIds: positions(rows, cols), textTokens: 6 };
    const { omega, mscale } = fluxRopeFrequencies(grid, 1, { method: 'base', dynamic: false, axesDim: yarn.axesDim, theta: yarn.theta });
    const ref = await runTransformer(original, input);
    const out = await runTransformer(rewritten, { ...input, omega, mscale });
    // float32 ω: bit-identical; float64 ω is fed as float32 (relative 6e-8 on angles ≤ 63 rad).
    expect(maxAbsDiff(out, ref)).toBeLessThanOrEqual(options.freqDtype === 'float64' ? 1e-5 : options.io === 'float16' ? 2e-3 : 0);
  });

  it.each(FORMS)('%s: DyPE (dynamic YaRN, 4× grid) equals the graph built with those frequencies', async (_label, options) => {
    const { rewritten } = await imported(options);
    const sigma = 0.6;
    const { omega, mscale } = fluxRopeFrequencies(grid, sigma, yarn);
    expect(new Set(mscale).size).toBeGreaterThan(1); // the spatial axes are scaled, axis 0 is not
    const reference = await writeFixtureTransformer(join(root, `ref${counter++}`), { ...options, baked: { omega, mscale } });
    const input = { imgIds: positions(rows, cols), textTokens: 6 };
    const ref = await runTransformer(reference, input);
    const out = await runTransformer(rewritten, { ...input, omega, mscale });
    // Reference scales the concatenated tables in float32; the import scales Cos/Sin per axis in their own dtype.
    const tol = options.io === 'float16' ? 4e-3 : 2e-5;
    expect(maxAbsDiff(out, ref)).toBeLessThanOrEqual(tol * Math.max(1, maxAbs(ref)));
    // …and DyPE really changed the result (so equality above is not vacuous).
    const native = fluxRopeFrequencies(grid, sigma, { ...yarn, method: 'base', dynamic: false });
    expect(maxAbsDiff(await runTransformer(rewritten, { ...input, ...native }), ref)).toBeGreaterThan(1e-2);
  });
});
