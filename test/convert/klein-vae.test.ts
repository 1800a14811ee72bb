// The converted FLUX.2 VAE against the torch reference (test/convert/reference-flux2/make_fixtures.py,
// BFL flux2 autoencoder.py at toy widths). The reference decodes the transformer's latent (normalised,
// 2×2-patchified, 4·z channels); here that latent goes through what the pipeline does with it, packed
// tokens un-normalised by the family (runtime/families/latents.ts) with the BatchNorm statistics
// dype.json carries, unpacked with patch 2, then the graph (post_quant_conv, decoder). Encoding runs
// the same way back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recognise } from '../../runtime/convert/architectures.ts';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../../runtime/convert/source.ts';
import { buildFlux2BundleConfig } from '../../runtime/bundle/flux2.ts';
import { buildFlux2VaeDecoder, buildFlux2VaeEncoder, deriveFlux2VaeConfig, FLUX2_VAE_PATCH, readLatentNorm, type LatentNorm } from '../../runtime/convert/vae-flux2.ts';
import { fromVaeLatents, toVaeLatents } from '../../runtime/families/latents.ts';
import { GraphBuilder } from '../../runtime/onnx/builder.ts';
import { packLatents, unpackLatents } from '../../runtime/pipeline/latents.ts';
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
const z = reference.config.z_channels;

async function latentNorm(): Promise<LatentNorm> {
  const header = await readSafetensorsHeader(checkpoint);
  return readLatentNorm(new SafetensorsWeightSource(new GraphBuilder('stats'), [{ header, location: 'x' }], reference.checkpoint));
}

/** dype.json of a bundle with this VAE: what the family's latent normalisation reads. */
async function bundleConfig() {
  return buildFlux2BundleConfig({ name: 't', description: '', vae: { latentChannels: z, scaleFactorPx: 2, encoder: true }, latentNorm: await latentNorm(), rope: { axesDim: [4, 4, 4, 4], theta: 2000 } }).config;
}

describe('FLUX.2 VAE conversion', () => {
  it('reads the latent BatchNorm statistics the reference normalises with', async () => {
    const norm = await latentNorm();
    expect(norm.mean).toHaveLength(4 * z);
    expect(norm.variance).toHaveLength(4 * z);
    expect(norm.eps).toBe(reference.config.bn_eps);
    expect(norm.variance.every((v) => v > 0)).toBe(true);
  });

  it('decodes the transformer latent as the reference does (BatchNorm inverse, unpatchify, post_quant_conv, decoder)', async () => {
    const { session } = await convertedSession(root, checkpoint, (g, w) => {
      const config = deriveFlux2VaeConfig(w);
      expect(config).toMatchObject({ latentChannels: z, scaleFactorPx: 2 });
      buildFlux2VaeDecoder(g, w, config);
    });
    const [, features, h, w] = reference.decode.latent_shape;
    // The reference's [1, 4z, h, w] latent as the pipeline holds it: tokens [h·w, 4z].
    const packed = packLatents(Float32Array.from(reference.decode.latent), { channels: features, height: h, width: w }, 1);
    toVaeLatents(packed, await bundleConfig());
    const vaeShape = { channels: z, height: h * FLUX2_VAE_PATCH, width: w * FLUX2_VAE_PATCH };
    const latent = unpackLatents(packed, vaeShape, FLUX2_VAE_PATCH);
    const out = await session.run({ latent_sample: new ort.Tensor('float32', latent, [1, z, vaeShape.height, vaeShape.width]) });
    expect(out.sample.dims).toEqual(reference.decode.sample_shape);
    expect(maxAbsDiff(out.sample.data as Float32Array, reference.decode.sample)).toBeLessThan(TOLERANCE);
    await session.release();
  });

  it('encodes an image to the normalised patchified latent the reference gives', async () => {
    const { session } = await convertedSession(root, checkpoint, (g, w) => buildFlux2VaeEncoder(g, w, deriveFlux2VaeConfig(w)));
    const out = await session.run({ sample: new ort.Tensor('float32', Float32Array.from(reference.encode.sample), reference.encode.sample_shape) });
    const [, , h, w] = out.latent_sample.dims;
    const packed = packLatents(out.latent_sample.data as Float32Array, { channels: z, height: h, width: w }, FLUX2_VAE_PATCH);
    fromVaeLatents(packed, await bundleConfig());
    const [, features, rh, rw] = reference.encode.latent_shape;
    const expected = packLatents(Float32Array.from(reference.encode.latent), { channels: features, height: rh, width: rw }, 1);
    expect(maxAbsDiff(packed, expected)).toBeLessThan(TOLERANCE);
    await session.release();
  });

  it('is recognised as the FLUX.2 VAE, not as FLUX.1 (its BatchNorm statistics tell them apart)', async () => {
    const keys = [...(await readSafetensorsHeader(checkpoint)).tensors.keys()];
    expect(recognise(keys).map((r) => r.architecture.id)).toEqual(['flux2-vae']);
    const flux1 = keys.filter((k) => !k.startsWith('bn.') && !k.includes('quant_conv'));
    expect(recognise(flux1).map((r) => r.architecture.id)).toEqual(['flux1-vae']);
  });
});
