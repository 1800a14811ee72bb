/** The published FLUX.1 shapes the catalog plans with, against the real checkpoints' headers (test/convert's fixtures). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clipLShapes, fluxVaeShapes, publishedFluxShapes, t5xxlShapes } from '../../runtime/memory/flux1-published.ts';
import { ENCODER_FIXTURES, FLUX_FIXTURES } from '../convert/helpers/flux-fixtures.ts';

const headers = JSON.parse(readFileSync(join(ENCODER_FIXTURES, 'full-size-shapes.json'), 'utf8')) as Record<'clip_l' | 't5xxl' | 'ae', Record<string, number[]>>;
const withoutBuffers = (shapes: Record<string, number[]>) => Object.fromEntries(Object.entries(shapes).filter(([key]) => !key.endsWith('position_ids')));

describe('FLUX.1 at its published sizes', () => {
  it('CLIP-L, T5-XXL and the VAE match the published checkpoints key by key', () => {
    expect(clipLShapes()).toEqual(withoutBuffers(headers.clip_l));
    expect(t5xxlShapes()).toEqual(headers.t5xxl);
    expect(fluxVaeShapes()).toEqual(headers.ae);
  });

  it('the dev transformer matches flux1-dev.safetensors; schnell lacks only the guidance embedder', () => {
    const dev = JSON.parse(readFileSync(join(FLUX_FIXTURES, 'flux1-dev-shapes.json'), 'utf8')) as Record<string, number[]>;
    expect(publishedFluxShapes('dev').transformer).toEqual(dev);
    const schnell = publishedFluxShapes('schnell').transformer;
    expect(Object.keys(dev).filter((key) => !(key in schnell))).toEqual(Object.keys(dev).filter((key) => key.startsWith('guidance_in.')));
  });
});
