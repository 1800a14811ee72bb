// The memory planner on FLUX.1-dev's published shapes (the key → shape lists the converter tests use):
// real weight counts per stored format, the placement rules, the modes and the refusals.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fluxModelMemory, publishedFluxWeights, type StoredFormat } from '../../runtime/memory/flux.ts';
import { formatPlan, largestFitting, planMemory, transformerPrecision, type MachineMemory } from '../../runtime/memory/plan.ts';
import { weightBytesInMemory } from '../../runtime/memory/weights.ts';
import { FLUX_FIXTURES, ENCODER_FIXTURES } from '../convert/helpers/flux-fixtures.ts';

const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, never>;
const encoders = read(join(ENCODER_FIXTURES, 'full-size-shapes.json'));
const SHAPES = { transformer: read(join(FLUX_FIXTURES, 'flux1-dev-shapes.json')), clip: encoders.clip_l, t5: encoders.t5xxl, vae: encoders.ae };

const flux = (transformer: StoredFormat, t5: StoredFormat = transformer.startsWith('Q') ? 'Q8_0' : 'F16') => fluxModelMemory(publishedFluxWeights(SHAPES, { transformer, t5 }));
const GB = 1e9;
const gpu = (gpuGB: number, ramGB = 32): MachineMemory => ({ ramBytes: ramGB * GB, gpuBytes: gpuGB * GB, gpuSource: 'test', unified: false });
const stage = (plan: ReturnType<typeof planMemory>, name: string) => plan.stages.find((s) => s.stage === name)!;

describe('weights as they sit in memory', () => {
  it('FLUX.1-dev: 11.9 B parameters: 47.6 GB in float32, 23.8 GB in float16, whatever the float dtype on disk', () => {
    for (const format of ['BF16', 'F8_E4M3'] as const) {
      const w = flux(format).weights.transformer;
      expect(weightBytesInMemory(w, 'float32') / GB).toBeCloseTo(47.6, 1);
      expect(weightBytesInMemory(w, 'float16') / GB).toBeCloseTo(23.8, 1);
    }
    expect(flux('F8_E4M3').weights.transformer.stored.F8_E4M3! / GB).toBeCloseTo(11.9, 1);
  });

  it('GGUF files: the tally of city96 layouts comes within 2 % of the published file sizes', () => {
    // city96/FLUX.1-dev-gguf file sizes as Hugging Face lists them (GB).
    for (const [format, published] of [['Q8_0', 12.7], ['Q6_K', 9.86], ['Q4_0', 6.79]] as const) {
      const stored = Object.values(flux(format).weights.transformer.stored).reduce((a, b) => a + b, 0);
      expect(Math.abs(stored / GB / published - 1)).toBeLessThan(0.02);
    }
  });

  it('quantised codes stay as stored on every provider; only their scales follow the compute type', () => {
    const w = flux('Q4_0').weights.transformer;
    const half = weightBytesInMemory(w, 'float16');
    const full = weightBytesInMemory(w, 'float32');
    // 4-bit codes with one scale per 32: 4.5 bits per weight in float16, 5 in float32, plus the float layers.
    expect(half / GB).toBeGreaterThan(6.6);
    expect(half / GB).toBeLessThan(7);
    expect((full - half) / GB).toBeLessThan(1); // far from the 2× of float weights
  });
});

describe('memory plan', () => {
  it('computes the transformer in float16 where the provider does, else float32', () => {
    expect(transformerPrecision('cuda', { halfGraph: true })).toBe('float16');
    expect(transformerPrecision('dml', { halfGraph: true })).toBe('float16');
    expect(transformerPrecision('coreml', { halfGraph: true })).toBe('float16');
    expect(transformerPrecision('webgpu', { halfGraph: true, shaderF16: true })).toBe('float16');
    expect(transformerPrecision('webgpu', { halfGraph: true, shaderF16: false })).toBe('float32');
    expect(transformerPrecision('cpu', { halfGraph: true })).toBe('float32');
    expect(transformerPrecision('cuda', { halfGraph: false })).toBe('float32');
  });

  it('runs the text encoders on the CPU when the GPU cannot hold them beside the transformer', () => {
    const small = planMemory(flux('Q4_0'), gpu(12), { width: 1024, height: 1024, provider: 'cuda' });
    expect(stage(small, 'text-encoders').runsOn).toBe('cpu');
    expect(stage(small, 'transformer')).toMatchObject({ runsOn: 'gpu', precision: 'float16', fits: true });
    expect(small.fits).toBe(true);
    const big = planMemory(flux('Q4_0'), gpu(24), { width: 1024, height: 1024, provider: 'cuda' });
    expect(stage(big, 'text-encoders').runsOn).toBe('gpu');
    expect(big.release).toBe(false);
  });

  it('refuses, before loading, a transformer whose weights alone exceed the GPU, with the numbers', () => {
    const plan = planMemory(flux('BF16'), gpu(24), { width: 1024, height: 1024, provider: 'cuda' });
    expect(plan.fits).toBe(false);
    expect(plan.refusal).toMatch(/^1024×1024 does not fit on cuda: transformer needs \d+\.\d GB \(weights 23\.8 GB \+ activations \d\.\d+ GB at 1024×1024\) but the GPU allows 22\.\d GB/);
    expect(largestFitting(flux('BF16'), gpu(24), { provider: 'cuda' })).toBeNull();
  });

  it('finds the largest square that fits and refuses the next size up', () => {
    const model = flux('Q4_0');
    const largest = largestFitting(model, gpu(8), { provider: 'cuda' })!;
    expect(largest.width).toBeGreaterThan(512);
    expect(largest.width).toBeLessThan(4096);
    expect(planMemory(model, gpu(8), { ...largest, provider: 'cuda' }).fits).toBe(true);
    const next = largest.width + 16;
    const refused = planMemory(model, gpu(8), { width: next, height: next, provider: 'cuda' });
    expect(refused.fits).toBe(false);
    expect(refused.refusal).toContain(`${next}×${next}`);
    // More memory, a larger image.
    expect(largestFitting(model, gpu(24), { provider: 'cuda' })!.width).toBeGreaterThan(largest.width);
  });

  it('auto keeps every session loaded when that fits and releases each stage when it does not; high refuses instead', () => {
    const model = flux('Q4_0');
    const roomy = planMemory(model, gpu(24, 64), { width: 1024, height: 1024, provider: 'cuda' });
    expect(roomy).toMatchObject({ release: false, fits: true });
    // At 2496² the transformer's activations leave room for the transformer alone, not for the VAE's weights beside it.
    const tight = planMemory(model, gpu(12), { width: 2496, height: 2496, provider: 'cuda' });
    expect(tight).toMatchObject({ release: true, fits: true });
    // The transformer stays loaded between jobs (beside a halved VAE tile); the other stages take turns.
    expect(tight.stages.map((s) => [s.stage, s.kept])).toEqual([['text-encoders', false], ['transformer', true], ['vae-decode', false], ['vae-encode', false]]);
    const high = planMemory(model, gpu(12), { width: 2496, height: 2496, provider: 'cuda', memory: 'high' });
    expect(high.fits).toBe(false);
    expect(high.refusal).toContain('GPU memory');
    // Asked to release: the transformer still stays loaded between jobs where it fits beside each other stage.
    const low = planMemory(model, gpu(24, 64), { width: 1024, height: 1024, provider: 'cuda', memory: 'low' });
    expect(low.release).toBe(true);
    expect(low.stages.map((s) => [s.stage, s.kept])).toEqual([['text-encoders', false], ['transformer', true], ['vae-decode', false], ['vae-encode', false]]);
    expect(low.gpu!.needBytes).toBeLessThan(roomy.gpu!.needBytes);
  });

  it('on the CPU everything is RAM in float32; on unified memory the GPU shares it', () => {
    const model = flux('Q8_0');
    const cpu = planMemory(model, gpu(0, 32), { width: 1024, height: 1024, provider: 'cpu' });
    expect(cpu.gpu).toBeNull();
    expect(cpu.stages.every((s) => s.runsOn === 'cpu' && (s.stage !== 'transformer' || s.precision === 'float32'))).toBe(true);
    const mac: MachineMemory = { ramBytes: 16 * GB, gpuBytes: null, gpuSource: 'unified memory', unified: true };
    const unified = planMemory(model, mac, { width: 1024, height: 1024, provider: 'coreml' });
    expect(unified.gpu?.budgetBytes).toBe(unified.ram.budgetBytes);
    expect(stage(unified, 'transformer').precision).toBe('float16');
  });

  it('halves the VAE tile rather than release the transformer when a 1024 px tile is what does not fit', () => {
    const roomy = planMemory(flux('Q4_0'), gpu(24), { width: 1024, height: 1024, provider: 'cuda' });
    expect(stage(roomy, 'vae-decode').tile).toBe(128);
    expect(roomy.notes.join(' ')).not.toContain('VAE tiles');
    // 12 GB: the transformer (6.8 GB) and a 1024 px tile (5.4 GB) do not fit together; 512 px tiles do.
    const small = planMemory(flux('Q4_0'), gpu(12), { width: 1024, height: 1024, provider: 'cuda' });
    expect(stage(small, 'vae-decode').tile).toBe(64);
    expect(small).toMatchObject({ release: false, fits: true });
    expect(stage(small, 'vae-decode').activationBytes).toBeLessThan(stage(roomy, 'vae-decode').activationBytes / 3);
    expect(small.notes.join(' ')).toContain('VAE tiles of 512 px instead of 1024 px');
    // Asked to keep everything, it halves the tile too rather than refuse.
    expect(planMemory(flux('Q4_0'), gpu(12), { width: 1024, height: 1024, provider: 'cuda', memory: 'high' }).fits).toBe(true);
  });

  it('does not guess a GPU it cannot see: unknown memory is reported, not refused', () => {
    const plan = planMemory(flux('Q4_0'), { ramBytes: 32 * GB, gpuBytes: null, gpuSource: 'WebGPU reports no total memory', unified: false }, { width: 1024, height: 1024, provider: 'webgpu', shaderF16: true });
    expect(plan.fits).toBeNull();
    expect(plan.notes.join(' ')).toContain('--gpu-memory');
    expect(formatPlan(plan).join('\n')).toContain('unknown');
  });

  it("refuses an activation wider than WebGPU's largest buffer", () => {
    const machine: MachineMemory = { ...gpu(48), maxBufferBytes: 2 ** 31 };
    const plan = planMemory(flux('Q4_0'), machine, { width: 4096, height: 4096, provider: 'webgpu', shaderF16: true });
    expect(plan.fits).toBe(false);
    expect(plan.refusal).toContain("largest buffer");
  });
});
