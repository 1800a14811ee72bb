// The Euler step graph that keeps latents on the device, run on the CPU provider against the JS step.
import { Float16Array } from '@petamoriken/float16';
import { describe, expect, it } from 'vitest';
import { eulerStep } from '../../runtime/pipeline/denoise.ts';
import { eulerStepGraph } from '../../runtime/pipeline/euler-graph.ts';
import { gaussianNoise } from '../../runtime/pipeline/noise.ts';
import { createGraphSession } from '../../runtime/pipeline/ort.ts';
import { estimateX0 } from '../../runtime/pipeline/preview.ts';

const dims = [1, 6, 16];
const x = gaussianNoise(1, 96);
const v = gaussianNoise(2, 96);
const [sigma, sigmaNext] = [0.8, 0.55];
const scalar = (n: number) => ({ type: 'float32' as const, data: Float32Array.of(n), dims: [1] });

describe('eulerStepGraph', () => {
  it.each(['float32', 'float16'] as const)('with a %s velocity: latents_next and x0 equal the JS step (float32 math, float16 rounding of v)', async (type) => {
    const session = await createGraphSession(eulerStepGraph(type, false), '<euler step to host>', 'cpu');
    const out = await session.run({ latents: { type: 'float32', data: x, dims }, velocity: { type: 'float32', data: v, dims }, dt: scalar(sigmaNext - sigma), sigma: scalar(sigma) });
    await session.release();
    // The graph sees v as rounded to the feed's type; JS computes in float64 and rounds once.
    const vFed = type === 'float16' ? Float32Array.from(v, roundHalf) : v;
    const expectedNext = eulerStep(x.slice(), vFed, sigma, sigmaNext);
    const expectedX0 = estimateX0(x, vFed, sigma);
    expect(out.latents_next.dims).toEqual(dims);
    (out.latents_next.data as Float32Array).forEach((n, i) => expect(n).toBeCloseTo(expectedNext[i], 6));
    (out.x0.data as Float32Array).forEach((n, i) => expect(n).toBeCloseTo(expectedX0[i], 6));
  });

  it('brings back only the outputs asked for: latents_next on the last step, x0 for a preview', async () => {
    const session = await createGraphSession(eulerStepGraph('float32', false), '<euler step to host>', 'cpu');
    const feeds = { latents: { type: 'float32' as const, data: x, dims }, velocity: { type: 'float32' as const, data: v, dims }, dt: scalar(sigmaNext - sigma), sigma: scalar(sigma) };
    const last = await session.run(feeds, ['latents_next']);
    const preview = await session.run(feeds, ['x0']);
    await expect(session.run(feeds, ['x1'])).rejects.toThrow(/no output\(s\) x1 \(outputs: latents_next, x0\)/);
    await session.release();
    expect(Object.keys(last)).toEqual(['latents_next']);
    expect(Object.keys(preview)).toEqual(['x0']);
    const expectedX0 = estimateX0(x, v, sigma);
    (preview.x0.data as Float32Array).forEach((n, i) => expect(n).toBeCloseTo(expectedX0[i], 6));
  });

  it('on the device it outputs the next hidden_states in the velocity type', async () => {
    // On the CPU provider outputs come back; the graph's second output is the next feed.
    const session = await createGraphSession(eulerStepGraph('float16', true), '<euler step on device>', 'cpu', { outputsOnDevice: true });
    expect(session.outputsOnDevice).toBe(false); // only WebGPU keeps outputs on the device
    expect(session.outputTypes).toEqual({ latents_next: 'float32', hidden_states: 'float16' });
    const out = await session.run({ latents: { type: 'float32', data: x, dims }, velocity: { type: 'float32', data: v, dims }, dt: scalar(sigmaNext - sigma) });
    await session.release();
    const next = out.latents_next.data as Float32Array;
    (out.hidden_states.data as Float32Array).forEach((n, i) => expect(n).toBe(roundHalf(next[i])));
  });
});

/** float32 → nearest float16 value, via the same polyfill the pipeline feeds with. */
function roundHalf(n: number): number {
  return new Float16Array([n])[0];
}
