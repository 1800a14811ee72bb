// Broken bundles must fail at load with a message that says what is wrong and where.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureDemoBundle } from '../../runtime/demo/cache.ts';
import { autoProviders, loadPipeline, type GenerateRequest } from '../../runtime/pipeline/index.ts';
import { tempDemoBundle } from '../helpers/demo.ts';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
const fresh = async (options?: Parameters<typeof tempDemoBundle>[0]) => {
  const b = await tempDemoBundle(options);
  cleanups.push(b.cleanup);
  return b.dir;
};

describe('broken bundles', () => {
  it('a missing folder', async () => {
    await expect(loadPipeline('/nonexistent/bundle')).rejects.toMatchObject({ code: 'bundle_missing', message: expect.stringMatching(/not found: \/nonexistent\/bundle/) });
  });

  it('a missing model file is named', async () => {
    const dir = await fresh();
    rmSync(join(dir, 'vae_decoder/model.onnx'));
    await expect(loadPipeline(dir)).rejects.toThrow(/missing vae_decoder\/model.onnx/);
  });

  it('a missing tokenizer file is named', async () => {
    const dir = await fresh();
    rmSync(join(dir, 'tokenizer_2/tokenizer.json'));
    await expect(loadPipeline(dir)).rejects.toThrow(/tokenizer_2\/tokenizer.json/);
  });

  it('malformed dype.json: invalid JSON and wrong fields', async () => {
    const dir = await fresh();
    writeFileSync(join(dir, 'dype.json'), '{"format": "dype-bundle",');
    await expect(loadPipeline(dir)).rejects.toThrow(/dype.json .*not valid JSON/);
    const config = JSON.parse(readFileSync(join(dir, 'scheduler/scheduler_config.json'), 'utf8'));
    expect(config.use_dynamic_shifting).toBe(true);
    const dype = { format: 'dype-bundle', version: 1, name: 'x', nativeResolution: 1000, pixelsPerToken: 64, extra: 1 };
    writeFileSync(join(dir, 'dype.json'), JSON.stringify(dype));
    await expect(loadPipeline(dir)).rejects.toThrow(/dype.json is invalid: .*patchSize.*extra|dype.json is invalid/);
  });

  it('dype.json sets the λ defaults: auto is resolved per request, out-of-range values are refused by name', async () => {
    const dir = await fresh();
    const path = join(dir, 'dype.json');
    const original = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...original, defaults: { ...original.defaults, dypeScale: 9 } }));
    await expect(loadPipeline(dir, { device: 'cpu' })).rejects.toThrow(/dype.json is invalid: .*defaults.dypeScale/);
    writeFileSync(path, JSON.stringify({ ...original, defaults: { ...original.defaults, dypeScale: 1, dypeExponent: 'auto' } }));
    const pipeline = await loadPipeline(dir, { device: 'cpu' });
    cleanups.push(() => void pipeline.dispose());
    expect([pipeline.info.defaultDypeScale, pipeline.info.defaultDypeExponent]).toEqual([1, 'auto']);
    expect(pipeline.resolveRequest({ prompt: 'x', width: 2560, height: 1024, seed: 1 })).toMatchObject({ dypeScale: 1, dypeExponent: 1, dypeExponentAuto: true });
  });

  it('a scheduler config with a non-numeric shift', async () => {
    const dir = await fresh();
    writeFileSync(join(dir, 'scheduler/scheduler_config.json'), JSON.stringify({ use_dynamic_shifting: true, max_shift: 'high' }));
    await expect(loadPipeline(dir)).rejects.toThrow(/max_shift must be a number/);
  });

  it('dype.json must agree with the transformer graph (rope inputs and frequency count)', async () => {
    const dir = await fresh();
    const path = join(dir, 'dype.json');
    const original = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...original, rope: { ...original.rope, inputs: 'tables' } }));
    await expect(loadPipeline(dir, { device: 'cpu' })).rejects.toThrow(/rope.inputs "tables" but .* takes rope_omega\/rope_mscale/);
    writeFileSync(path, JSON.stringify({ ...original, rope: { ...original.rope, axesDim: [4, 14, 16] } }));
    await expect(loadPipeline(dir, { device: 'cpu' })).rejects.toThrow(/takes 16 rope_omega values but dype.json rope.axesDim gives 17/);
  });

  it('a malformed tokenizer.json is a bundle error, not a crash', async () => {
    const dir = await fresh();
    writeFileSync(join(dir, 'tokenizer/tokenizer.json'), '{"model": {"type": "BPE"');
    await expect(loadPipeline(dir, { device: 'cpu' })).rejects.toMatchObject({ code: 'bundle_invalid', message: expect.stringMatching(/tokenizer in .*tokenizer cannot be loaded/) });
  });

  it('a transformer without DyPE inputs is refused with the missing inputs named', async () => {
    const dir = await fresh();
    copyFileSync(join(dir, 'vae_decoder/model.onnx'), join(dir, 'transformer/model.onnx'));
    await expect(loadPipeline(dir)).rejects.toThrow(/not DyPE-ready: missing input\(s\) hidden_states.*rope_omega \+ rope_mscale/);
  });

  it('a corrupt ONNX file is reported with its path', async () => {
    const dir = await fresh();
    writeFileSync(join(dir, 'text_encoder/model.onnx'), 'not a model');
    await expect(loadPipeline(dir, { device: 'cpu' })).rejects.toThrow(/text_encoder\/model.onnx/);
  });

  it('auto falls back provider by provider and logs why', async () => {
    const dir = await fresh();
    const log: string[] = [];
    const p = await loadPipeline(dir, { device: 'auto', log: (l) => log.push(l) });
    const order = autoProviders();
    const skipped = order.slice(0, order.indexOf(p.info.provider as (typeof order)[number]));
    expect(order).toContain(p.info.provider);
    // every provider tried before the one that loaded has a logged reason
    skipped.forEach((provider, i) => expect(log[i]).toMatch(new RegExp(`^${provider} unavailable \\(.+\\); trying `)));
    await p.dispose();
  });

  it('an unknown device lists the supported ones', async () => {
    const dir = await fresh();
    await expect(loadPipeline(dir, { device: 'tpu' as never })).rejects.toThrow(/unknown device "tpu": supported devices are auto, cpu, cuda/);
  });
});

describe('other transformer contracts', () => {
  const req: GenerateRequest = { prompt: 'tables and halves', width: 1536, height: 1024, seed: 11, steps: 3 };
  const rgb = async (dir: string) => {
    const p = await loadPipeline(dir, { device: 'cpu' });
    try {
      return (await sharp((await p.generate(req)).image).raw().toBuffer());
    } finally {
      await p.dispose();
    }
  };
  const meanAbs = (a: Buffer, b: Buffer) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

  it('full rope_cos/rope_sin tables give the image the compact ω feed gives', async () => {
    const [omega, tables] = await Promise.all([fresh(), fresh({ ropeInputs: 'tables' })]);
    expect(meanAbs(await rgb(omega), await rgb(tables))).toBeLessThan(0.05);
  });

  it('float16 inputs and outputs are fed and read back', async () => {
    const [f32, f16] = await Promise.all([fresh(), fresh({ float16Io: true })]);
    expect(meanAbs(await rgb(f32), await rgb(f16))).toBeLessThan(3);
  });

  it('a model without a guidance embedding runs and says so', async () => {
    const p = await loadPipeline(await fresh({ guidance: false }), { device: 'cpu' });
    expect(p.info.guidanceEmbeds).toBe(false);
    expect(p.info.defaultGuidance).toBeNull();
    const result = await p.generate({ ...req, steps: 1 });
    expect(result.width).toBe(1536);
    await p.dispose();
  });
});

describe('the demo bundle cache', () => {
  it('is built once, reused, and rebuilt when its files are stale', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dype-demo-cache-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const dir = join(root, 'demo');
    const log: string[] = [];
    await ensureDemoBundle(dir, (l) => log.push(l));
    await ensureDemoBundle(dir, (l) => log.push(l));
    expect(log).toEqual([expect.stringMatching(/^building the embedded demo model/)]);
    writeFileSync(join(dir, '.demo-build'), 'an older build\n');
    rmSync(join(dir, 'vae_decoder/model.onnx'));
    await ensureDemoBundle(dir, (l) => log.push(l));
    expect(log[1]).toMatch(/^rebuilding/);
    expect(existsSync(join(dir, 'vae_decoder/model.onnx'))).toBe(true);
  });
});
