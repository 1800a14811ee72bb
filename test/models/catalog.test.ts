/** The catalog file and the rules that pick a repository's files; pure, no network. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FLUX_DEFAULTS } from '../../runtime/bundle/flux1.ts';
import { ZIMAGE_DEFAULTS } from '../../runtime/bundle/zimage.ts';
import { familyFacts, loadCatalog, parseCatalog } from '../../runtime/models/catalog.ts';
import type { RemoteFile } from '../../runtime/models/hub.ts';
import { parseHfSpec, selectConvertible } from '../../runtime/models/pull.ts';

const raw = JSON.parse(readFileSync(new URL('../../runtime/models/catalog.json', import.meta.url), 'utf8')) as { models: Record<string, unknown>[]; textEncoders: unknown[] };

describe('catalog', () => {
  it('parses, and every model names its licence with a URL and its files by repository and path', () => {
    const catalog = loadCatalog();
    expect(catalog.models.map((m) => m.name)).toEqual(['flux1-schnell', 'flux1-dev', 'flux1-schnell-q8', 'flux1-schnell-q4', 'flux1-dev-q8', 'flux1-dev-q4', 'flux2-klein-4b', 'z-image-turbo']);
    for (const m of catalog.models) {
      expect(m.licence.url).toMatch(/^https:\/\//);
      expect(m.sources.flatMap((s) => s.paths).length).toBeGreaterThan(0);
    }
    // FLUX.1 [dev] and its GGUF variants are gated; schnell's are not
    expect(catalog.models.filter((m) => m.gated).map((m) => m.name)).toEqual(['flux1-dev', 'flux1-dev-q8', 'flux1-dev-q4']);
  });

  it('takes native size and default steps from the family defaults dype convert writes', () => {
    const dev = loadCatalog().models.find((m) => m.name === 'flux1-dev')!;
    expect(familyFacts(dev)).toMatchObject({ nativeSize: FLUX_DEFAULTS.nativeResolution, defaultSteps: FLUX_DEFAULTS.steps.dev });
    expect(familyFacts({ family: 'flux1', variant: 'schnell' }).defaultSteps).toBe(FLUX_DEFAULTS.steps.schnell);
    expect(familyFacts({ family: 'zimage', variant: 'turbo' })).toMatchObject({ nativeSize: ZIMAGE_DEFAULTS.nativeResolution, defaultSteps: ZIMAGE_DEFAULTS.steps });
  });

  it('refuses what cannot be checked: sizes or hashes written in, unknown families or variants, names used twice', () => {
    const first = raw.models[0];
    const withSize = { ...raw, models: [{ ...first, size: 23_800_000_000 }] };
    expect(() => parseCatalog(withSize)).toThrow(/models\.0: Unrecognized key: "size"/);
    expect(() => parseCatalog({ ...raw, models: [{ ...first, family: 'sdxl' }] })).toThrow(/models\.0\.family/);
    expect(() => parseCatalog({ ...raw, models: [{ ...first, family: 'zimage' }] })).toThrow(/models\.0\.variant: zimage variant must be one of turbo/);
    expect(() => parseCatalog({ ...raw, models: [{ ...first, variant: 'turbo' }] })).toThrow(/models\.0\.variant: flux1 variant must be one of dev, krea-dev, schnell/);
    expect(() => parseCatalog({ ...raw, models: [first, first] })).toThrow(/name flux1-schnell is used twice/);
    expect(() => parseCatalog({ ...raw, models: [{ ...first, sources: [{ repo: 'a/b', paths: ['../x'] }] }] })).toThrow(/must be a path inside the repository/);
  });
});

const file = (path: string): RemoteFile => ({ repo: 'o/r', path, size: 1, etag: 'e', hash: 'sha256' });
const pick = (paths: string[]) => selectConvertible(paths.map(file)).map((f) => f.path);

describe('which files hf:owner/repo takes', () => {
  it('a BFL repository: the top-level checkpoints, the diffusers text encoders, the tokenizers; not the diffusers transformer or VAE', () => {
    expect(
      pick([
        'flux1-dev.safetensors',
        'ae.safetensors',
        'README.md',
        'transformer/diffusion_pytorch_model-00001-of-00003.safetensors',
        'transformer/diffusion_pytorch_model.safetensors.index.json',
        'vae/diffusion_pytorch_model.safetensors',
        'text_encoder/model.safetensors',
        'text_encoder/config.json',
        'text_encoder_2/model-00001-of-00002.safetensors',
        'text_encoder_2/model.safetensors.index.json',
        'tokenizer/vocab.json',
        'tokenizer_2/spiece.model',
        'tokenizer_2/extra/nested.json',
      ]),
    ).toEqual(['flux1-dev.safetensors', 'ae.safetensors', 'text_encoder/model.safetensors', 'text_encoder_2/model-00001-of-00002.safetensors', 'text_encoder_2/model.safetensors.index.json', 'tokenizer/vocab.json', 'tokenizer_2/spiece.model']);
  });

  it('a diffusers-only repository: its transformer and VAE folders too', () => {
    expect(pick(['transformer/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors', 'vae/config.json', 'scheduler/scheduler_config.json'])).toEqual([
      'transformer/diffusion_pytorch_model.safetensors',
      'vae/diffusion_pytorch_model.safetensors',
    ]);
  });

  it('parses hf: specs', () => {
    expect(parseHfSpec('hf:city96/FLUX.1-dev-gguf')).toEqual({ repo: 'city96/FLUX.1-dev-gguf' });
    expect(parseHfSpec('hf:city96/FLUX.1-dev-gguf/flux1-dev-Q8_0.gguf')).toEqual({ repo: 'city96/FLUX.1-dev-gguf', paths: ['flux1-dev-Q8_0.gguf'] });
    expect(parseHfSpec('hf:o/r/tokenizer/')).toEqual({ repo: 'o/r', paths: ['tokenizer/'] });
    expect(() => parseHfSpec('hf:o/r/../x')).toThrow(/is not hf:<owner>\/<repo>/);
    expect(() => parseHfSpec('hf:o')).toThrow(/is not hf:<owner>\/<repo>/);
  });
});
