/**
 * The catalog's memory per provider and "fits this computer", from the memory planner on FLUX.1's
 * published shapes in each entry's stored formats. Checked against the real checkpoint headers
 * (test/convert's fixtures) and against the planner's own verdict either side of each number.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCatalogModel, loadCatalog, type CatalogModel } from '../../runtime/models/catalog.ts';
import { catalogMemory, catalogModelMemory, fitsMachine, storedFormat } from '../../runtime/models/memory.ts';
import type { MachineMemory } from '../../runtime/memory/plan.ts';
import { elementsOf, weightBytesInMemory } from '../../runtime/memory/weights.ts';
import { ENCODER_FIXTURES, FLUX_FIXTURES } from '../convert/helpers/flux-fixtures.ts';

const model = (name: string): CatalogModel => findCatalogModel(name) ?? expect.fail(`${name} is not in the catalog`);
const params = (file: string, part?: string) => {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, number[]> | number[]>;
  const shapes = (part ? json[part] : json) as Record<string, number[]>;
  return Object.entries(shapes).filter(([key]) => !key.endsWith('position_ids')).reduce((n, [, shape]) => n + elementsOf(shape), 0);
};
/** FLUX.1 [dev]'s transformer and T5-XXL parameters, from the published checkpoints' headers. */
const TRANSFORMER = params(join(FLUX_FIXTURES, 'flux1-dev-shapes.json'));
const T5 = params(join(ENCODER_FIXTURES, 'full-size-shapes.json'), 't5xxl');
const cpu = (ramBytes: number): MachineMemory => ({ ramBytes, gpuBytes: null, gpuSource: 'test', unified: false });
const gpu = (gpuBytes: number, ramBytes: number): MachineMemory => ({ ramBytes, gpuBytes, gpuSource: 'test', unified: false });

describe('catalog memory from the planner', () => {
  it('each number is where the planner turns from "too big" to "fits", on the CPU and on a GPU', () => {
    for (const m of loadCatalog().models) {
      const need = catalogMemory(m);
      if (!need) continue;
      expect(fitsMachine(m, cpu(need.cpu.ramBytes * 1.01), 'cpu'), m.name).toBe(true);
      expect(fitsMachine(m, cpu(need.cpu.ramBytes * 0.99), 'cpu'), m.name).toBe(false);
      expect(fitsMachine(m, gpu(need.gpu.gpuBytes * 1.01, need.gpu.ramBytes * 1.01), 'cuda'), m.name).toBe(true);
      expect(fitsMachine(m, gpu(need.gpu.gpuBytes * 0.99, 2 ** 40), 'cuda'), m.name).toBe(false);
      expect(fitsMachine(m, gpu(2 ** 40, need.gpu.ramBytes * 0.99), 'cuda'), m.name).toBe(false);
      // a GPU whose memory is unknown cannot be judged
      expect(fitsMachine(m, gpu(2 ** 40, 2 ** 40), 'cuda') && fitsMachine(m, { ...gpu(0, 2 ** 40), gpuBytes: null }, 'cuda'), m.name).toBeNull();
    }
  });

  it('follows the weights: float32 on the CPU, float16 or the GGUF block types on a GPU, T5 as its file stores it', () => {
    const bf16 = catalogMemory(model('flux1-dev'))!;
    // the bf16 transformer is widened to float32 on the CPU, float16 on a GPU: at least its weights
    expect(bf16.cpu.ramBytes).toBeGreaterThan(TRANSFORMER * 4);
    expect(bf16.gpu.gpuBytes).toBeGreaterThan(TRANSFORMER * 2);
    expect(bf16.gpu.gpuBytes).toBeLessThan(TRANSFORMER * 4);
    const q8 = catalogMemory(model('flux1-dev-q8'))!;
    const q4 = catalogMemory(model('flux1-dev-q4'))!;
    expect(q8.gpu.gpuBytes).toBeGreaterThan(TRANSFORMER);
    expect(q4.gpu.gpuBytes).toBeGreaterThan(TRANSFORMER / 2);
    expect(q4.gpu.gpuBytes).toBeLessThan(q8.gpu.gpuBytes);
    expect(q8.gpu.gpuBytes).toBeLessThan(bf16.gpu.gpuBytes);
    expect(q4.cpu.ramBytes).toBeLessThan(q8.cpu.ramBytes);
    // GGUF rows pull city96's T5 Q8_0 (one byte and a bit per weight); the others BFL's bf16 text_encoder_2, read as float32
    const textBytes = (name: string) => weightBytesInMemory(catalogModelMemory(model(name))!.weights.textEncoders, 'float32');
    expect(textBytes('flux1-schnell')).toBeGreaterThan(T5 * 4);
    expect(textBytes('flux1-schnell-q8')).toBeGreaterThan(T5);
    expect(textBytes('flux1-schnell-q8')).toBeLessThan(textBytes('flux1-schnell') / 2.5);
    // [dev] takes 512 T5 tokens and a guidance embedder, [schnell] 256 and none
    expect(catalogMemory(model('flux1-dev'))!.cpu.ramBytes).toBeGreaterThan(catalogMemory(model('flux1-schnell'))!.cpu.ramBytes);
  });

  it('names stored formats as the planner does, and refuses one it does not know', () => {
    expect(['bf16', 'fp8', 'Q8_0', 'Q4_0', 'Q5_K_S', 'Q4_K_M'].map(storedFormat)).toEqual(['BF16', 'F8_E4M3', 'Q8_0', 'Q4_0', 'Q5_K', 'Q4_K']);
    expect(() => storedFormat('IQ2_XS')).toThrow(/quantization IQ2_XS is not one the memory planner knows \(bf16, .*Q8_0/);
  });
});
