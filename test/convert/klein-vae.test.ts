// The converted FLUX.2 VAE against the torch reference (test/convert/reference-flux2/make_fixtures.py,
// BFL flux2 autoencoder.py at toy widths): decode includes the BatchNorm un-normalisation and the
// 2×2 unpatchify before post_quant_conv; encode the quant_conv, patchify and normalisation.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recognise } from '../../runtime/convert/architectures.ts';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { buildFlux2VaeDecoder, buildFlux2VaeEncoder, deriveFlux2VaeConfig } from '../../runtime/convert/vae-flux2.ts';
import { maxAbsDiff } from '../helpers/compare.ts';
import { convertedSession } from './helpers/converted.ts';
import { KLEIN_FIXTURES, KLEIN_REFERENCE } from './helpers/klein-fixtures.ts';

const TOLERANCE = 1e-4;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dype-flux2-vae-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const reference = KLEIN_REFERENCE.vae;
const checkpoint = join(KLEIN_FIXTURES, reference.checkpoint);
const f32 = (data: readonly number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);

describe('FLUX.2 VAE conversion', () => {
  it('decodes a normalised patchified latent as the reference does (BatchNorm inverse, unpatchify, post_quant_conv)', async () => {
    const { session } = await convertedSession(root, checkpoint, (g, w) => {
      const config = deriveFlux2VaeConfig(w);
      expect(config).toMatchObject({ latentChannels: reference.config.z_channels, patchedChannels: 4 * reference.config.z_channels, scaleFactorPx: 2, patchedScalePx: 4 });
      buildFlux2VaeDecoder(g, w, config);
    });
    const out = await session.run({ latent_sample: f32(reference.decode.latent, reference.decode.latent_shape) });
    expect(out.sample.dims).toEqual(reference.decode.sample_shape);
    expect(maxAbsDiff(out.sample.data as Float32Array, reference.decode.sample)).toBeLessThan(TOLERANCE);
    await session.release();
  });

  it('encodes an image to the normalised patchified latent the reference gives', async () => {
    const { session } = await convertedSession(root, checkpoint, (g, w) => buildFlux2VaeEncoder(g, w, deriveFlux2VaeConfig(w)));
    const out = await session.run({ sample: f32(reference.encode.sample, reference.encode.sample_shape) });
    expect(out.latent_sample.dims).toEqual(reference.encode.latent_shape);
    expect(maxAbsDiff(out.latent_sample.data as Float32Array, reference.encode.latent)).toBeLessThan(TOLERANCE);
    await session.release();
  });

  it('is recognised as the FLUX.2 VAE, not as FLUX.1 (its BatchNorm statistics tell them apart)', async () => {
    const keys = [...(await readSafetensorsHeader(checkpoint)).tensors.keys()];
    expect(recognise(keys).map((r) => r.architecture.id)).toEqual(['flux2-vae']);
    const flux1 = keys.filter((k) => !k.startsWith('bn.') && !k.includes('quant_conv'));
    expect(recognise(flux1).map((r) => r.architecture.id)).toEqual(['flux1-vae']);
  });
});
