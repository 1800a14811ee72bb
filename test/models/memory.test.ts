/**
 * The catalog's memory per provider and "fits this computer", from the memory planner on each
 * family's published shapes (FLUX.1, FLUX.2 [klein] 4B, Z-Image-Turbo) in each entry's stored
 * formats. Checked against the real checkpoint headers (test/convert's fixtures) and against the planner's own verdict either side of each number.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCatalogModel, loadCatalog, type CatalogModel } from '../../runtime/models/catalog.ts';
import { catalogMemory, catalogModelMemory, fitsMachine, storedFormat } from '../../runtime/models/memory.ts';
import type { MachineMemory } from '../../runtime/memory/plan.ts';
import { elementsOf, weightBytesInMemory } from '../../runtime/memory/weights.ts';
import { ENCODER_FIXTURES, FLUX_FIXTURES } from '../convert/helpers/flux-fixtures.ts';
import { KLEIN_FIXTURES } from '../convert/helpers/klein-fixtures.ts';
import { ZIMAGE_FIXTURES } from '../convert/helpers/zimage-fixtures.ts';

const model = (name: string): CatalogModel => findCatalogModel(name) ?? expect.fail(`${name} is not in the catalog`);
type Shapes = Record<string, number[]>;
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const params = (shapes: Shapes) => Object.entries(shapes).filter(([key]) => !key.endsWith('position_ids')).reduce((n, [, shape]) => n + elementsOf(shape), 0);
/** FLUX.1 [dev]'s transformer and T5-XXL parameters, from the published checkpoints' headers. */
const TRANSFORMER = params(read(join(FLUX_FIXTURES, 'flux1-dev-shapes.json')) as Shapes);
const T5 = params(read(join(ENCODER_FIXTURES, 'full-size-shapes.json')).t5xxl as Shapes);
const cpu = (ramBytes: number): MachineMemory => ({ ramBytes, gpuBytes: null, gpuSource: 'test', unified: false });
const gpu = (gpuBytes: number, ramBytes: number): MachineMemory => ({ ramBytes, gpuBytes, gpuSource: 'test', unified: false });

describe('catalog memory from the planner', () => {
  it('each number is where the planner turns from "too big" to "fits", on the CPU and on a GPU', () => {
    const models = loadCatalog().models;
    // every row the catalog lists has a planner model
    expect(models.filter((m) => !catalogMemory(m)).map((m) => m.name)).toEqual([]);
    for (const m of models) {
      const need = catalogMemory(m)!;
      expect(fitsMachine(m, cpu(need.cpu.ramBytes * 1.01), 'cpu'), m.name).toBe(true);
      expect(fitsMachine(m, cpu(need.cpu.ramBytes * 0.99), 'cpu'), m.name).toBe(false);
      expect(fitsMachine(m, gpu(need.gpu.gpuBytes * 1.01, need.gpu.ramBytes * 1.01), 'cuda'), m.name).toBe(true);
      expect(fitsMachine(m, gpu(need.gpu.gpuBytes * 0.99, 2 ** 40), 'cuda'), m.name).toBe(false);
      // the RAM is what the least GPU leaves to it (a larger GPU may take the text encoders off it)
      expect(fitsMachine(m, gpu(need.gpu.gpuBytes * 1.01, need.gpu.ramBytes * 0.99), 'cuda'), m.name).toBe(false);
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

  it('FLUX.2 [klein] 4B and Z-Image-Turbo: bf16 weights widened to float32 on the CPU, float16 on a GPU, with Qwen3-4B beside them', () => {
    const kleinShapes = read(join(KLEIN_FIXTURES, 'full-size-shapes.json')) as { transformer: Shapes; qwen3: Shapes };
    const qwen3 = params(kleinShapes.qwen3);
    const transformers = { 'flux2-klein-4b': params(kleinShapes.transformer), 'z-image-turbo': params(read(join(ZIMAGE_FIXTURES, 'z-image-turbo-shapes.json')) as Shapes) };
    for (const [name, transformer] of Object.entries(transformers)) {
      const need = catalogMemory(model(name)) ?? expect.fail(`${name} has no memory`);
      // on the CPU each runs in float32, released after its stage at the least RAM; Qwen3 is truncated
      // (27 or 35 of its 36 layers) but keeps most of its 4.0 B
      expect(need.cpu.ramBytes, name).toBeGreaterThan(Math.max(transformer, 0.7 * qwen3) * 4);
      expect(need.cpu.ramBytes, name).toBeLessThan((transformer + qwen3) * 4);
      // the least GPU holds the float16 transformer alone, and Qwen3 runs in float32 from RAM
      expect(need.gpu.gpuBytes, name).toBeGreaterThan(transformer * 2);
      expect(need.gpu.gpuBytes, name).toBeLessThan((transformer + 0.7 * qwen3) * 2);
      expect(need.gpu.ramBytes, name).toBeGreaterThan(0.7 * qwen3 * 4);
    }
    const klein = catalogMemory(model('flux2-klein-4b'))!;
    const zimage = catalogMemory(model('z-image-turbo'))!;
    expect(zimage.cpu.ramBytes).toBeGreaterThan(klein.cpu.ramBytes);
    expect(zimage.gpu.gpuBytes).toBeGreaterThan(klein.gpu.gpuBytes);
    expect(catalogModelMemory(model('flux2-klein-4b'))!.transformer.textTokens).toBe(512);
  });

  it('names stored formats as the planner does, and refuses one it does not know', () => {
    expect(['bf16', 'fp8', 'Q8_0', 'Q4_0', 'Q5_K_S', 'Q4_K_M'].map(storedFormat)).toEqual(['BF16', 'F8_E4M3', 'Q8_0', 'Q4_0', 'Q5_K', 'Q4_K']);
    expect(() => storedFormat('IQ2_XS')).toThrow(/quantization IQ2_XS is not one the memory planner knows \(bf16, .*Q8_0/);
  });
});
