import { describe, expect, it } from 'vitest';
import { BundleConfigSchema, type BundleConfig } from '../../runtime/bundle/config.ts';
import { FLUX_DEFAULTS } from '../../runtime/bundle/flux1.ts';
import { demoBundleConfig } from '../../runtime/demo/index.ts';
import { familyOf, FLUX1, FLUX2 } from '../../runtime/families/index.ts';
import { fromVaeLatents, toVaeLatents } from '../../runtime/families/latents.ts';
import { normalTensor } from '../../runtime/demo/prng.ts';

const random = (n: number, seed: number) => normalTensor(seed, 'latents', n, 1);

describe('family registry', () => {
  it('dype.json family picks the family object; one without an implementation is refused by name', () => {
    expect(familyOf('flux1')).toBe(FLUX1);
    expect(familyOf('flux2')).toBe(FLUX2);
    expect(() => familyOf('zimage')).toThrow(/cannot run zimage models yet/);
  });

  it("FLUX.1 scales rows and cols, keeps the index axis native, and feeds σ as the timestep", () => {
    const config = BundleConfigSchema.parse(demoBundleConfig());
    expect(FLUX1.axisRoles(config)).toEqual(['native', 'rows', 'cols']);
    expect(FLUX1.timestep(0.25)).toBe(0.25);
  });

  it('FLUX.2 scales h and w of its (t, h, w, l) axes and writes text positions on l', () => {
    expect(FLUX2.axisRoles(BundleConfigSchema.parse(demoBundleConfig()))).toEqual(['native', 'rows', 'cols', 'native']);
    expect(FLUX2.timestep(0.25)).toBe(0.25);
    const feeds = FLUX2.positionFeeds({ rows: 2, cols: 3, textTokens: 4 }, undefined as never);
    expect(feeds.img_ids.dims).toEqual([6, 4]);
    expect(Array.from(feeds.img_ids.data as Float32Array).slice(4 * 5, 4 * 6)).toEqual([0, 1, 2, 0]); // token (1, 2)
    expect(Array.from(feeds.txt_ids.data as Float32Array).slice(4 * 3, 4 * 4)).toEqual([0, 0, 0, 3]);
  });
});

describe('VAE latent normalisation', () => {
  const flux = (): BundleConfig => {
    const c = BundleConfigSchema.parse(demoBundleConfig());
    return { ...c, vae: { ...c.vae, scalingFactor: FLUX_DEFAULTS.scalingFactor, shiftFactor: FLUX_DEFAULTS.shiftFactor } };
  };

  it("FLUX.1: the decoder gets z / scaling + shift, and the encoder's mean comes back", () => {
    const c = flux();
    const z = random(64, 1);
    const x = Float32Array.from(z);
    toVaeLatents(x, c);
    z.forEach((v, i) => expect(x[i]).toBeCloseTo(v / 0.3611 + 0.1159, 5));
    fromVaeLatents(x, c);
    z.forEach((v, i) => expect(x[i]).toBeCloseTo(v, 5));
  });

  it('BatchNorm stats (FLUX.2): per packed feature, x = z·√(var + eps) + mean, and back', () => {
    const base = BundleConfigSchema.parse(demoBundleConfig());
    const features = base.latentChannels * base.patchSize ** 2;
    const mean = Array.from(random(features, 2));
    const variance = Array.from(random(features, 3), (v) => v * v);
    const c: BundleConfig = { ...base, vae: { ...base.vae, scalingFactor: 1, shiftFactor: 0, latentNorm: { mean, variance, eps: 1e-4 } } };
    const tokens = 3;
    const z = random(tokens * features, 4);
    const x = Float32Array.from(z);
    toVaeLatents(x, c);
    for (let t = 0; t < tokens; t++) {
      for (let f = 0; f < features; f++) expect(x[t * features + f]).toBeCloseTo(z[t * features + f] * Math.sqrt(variance[f] + 1e-4) + mean[f], 5);
    }
    fromVaeLatents(x, c);
    z.forEach((v, i) => expect(x[i]).toBeCloseTo(v, 4));
  });
});
