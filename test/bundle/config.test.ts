import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleConfigSchema } from '../../runtime/bundle/config.ts';
import { readBundle } from '../../runtime/bundle/read.ts';
import { finishBundle } from '../../runtime/bundle/write.ts';
import { demoBundleConfig, writeDemoBundle } from '../../runtime/demo/index.ts';

const issues = (value: unknown) => {
  const parsed = BundleConfigSchema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('dype.json family', () => {
  it('a bundle written before families reads as FLUX.1', () => {
    const old = demoBundleConfig();
    expect(old).not.toHaveProperty('family');
    expect(BundleConfigSchema.parse(old).family).toBe('flux1');
  });

  it("text lengths are the family's encoders, exactly", () => {
    const c = demoBundleConfig();
    expect(issues(c)).toEqual([]);
    expect(issues({ ...c, text: { clipMaxLength: 77 } })).toEqual(['text: a flux1 bundle gives exactly clipMaxLength, t5MaxLength (got clipMaxLength)']);
    expect(issues({ ...c, text: { ...c.text, qwenMaxLength: 512 } })).toHaveLength(1);
    expect(issues({ ...c, family: 'flux2' })).toEqual(['text: a flux2 bundle gives exactly qwenMaxLength (got clipMaxLength, t5MaxLength)']);
    expect(issues({ ...c, family: 'sdxl' })[0]).toMatch(/^family: /);
  });

  it('a latent normalisation gives mean and variance per packed feature', () => {
    const c = demoBundleConfig();
    const features = c.latentChannels * c.patchSize ** 2;
    const norm = (n: number) => ({ mean: new Array(n).fill(0), variance: new Array(n).fill(1), eps: 1e-4 });
    expect(issues({ ...c, vae: { ...c.vae, latentNorm: norm(features) } })).toEqual([]);
    expect(issues({ ...c, vae: { ...c.vae, latentNorm: norm(c.latentChannels) } })).toEqual([`vae.latentNorm: needs mean and variance per packed latent feature (${features})`]);
  });
});

describe('reading and writing a bundle', () => {
  let root: string;
  let dir: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dype-bundle-'));
    dir = join(root, 'demo');
    await writeDemoBundle(dir);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it("finds the family's text encoders and tokenizers", () => {
    const bundle = readBundle(dir);
    expect(bundle.config.family).toBe('flux1');
    expect(bundle.text).toEqual({
      clip: { model: join(dir, 'text_encoder', 'model.onnx'), tokenizer: join(dir, 'tokenizer') },
      t5: { model: join(dir, 'text_encoder_2', 'model.onnx'), tokenizer: join(dir, 'tokenizer_2') },
    });
  });

  it('refuses a family this version cannot run, by name', async () => {
    const config = JSON.parse(await readFile(join(dir, 'dype.json'), 'utf8'));
    const other = join(root, 'zimage');
    await writeDemoBundle(other);
    await writeFile(join(other, 'dype.json'), JSON.stringify({ ...config, family: 'zimage', text: { qwenMaxLength: 512 } }));
    expect(() => readBundle(other)).toThrow(/holds a zimage model, which this version of dype cannot run yet/);
  });

  it('the shared tail writes dype.json and fails with the writer’s own error when the bundle does not read back', async () => {
    const config = BundleConfigSchema.parse(JSON.parse(await readFile(join(dir, 'dype.json'), 'utf8')));
    const read = await finishBundle(dir, { config: { ...config, description: 'rewritten' } }, (message) => new Error(`writer: ${message}`));
    expect(read.config.description).toBe('rewritten');
    expect(JSON.parse(await readFile(join(dir, 'dype.json'), 'utf8')).description).toBe('rewritten');
    const broken = { ...config, vae: { ...config.vae, encoder: true } };
    await rm(join(dir, 'vae_encoder'), { recursive: true });
    await expect(finishBundle(dir, { config: broken }, (message) => new Error(`writer: ${message}`))).rejects.toThrow(/^writer: the assembled bundle does not read back: .*vae_encoder/);
  });
});
