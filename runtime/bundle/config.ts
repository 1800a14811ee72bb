/** Schema of a bundle's `dype.json` (our own file beside the diffusers/optimum ONNX layout). */
import { z } from 'zod';
import { fields } from '../contract/rules.ts';

const rgbRow = z.tuple([z.number(), z.number(), z.number()]);

/** The model families a bundle can hold; runtime/families has one object per id. */
export const FAMILY_IDS = ['flux1', 'flux2', 'zimage'] as const;
export type FamilyId = (typeof FAMILY_IDS)[number];

/**
 * dype.json `text`: the prompt length of each of the family's text encoders, by key. FLUX.1 keeps
 * its original keys, so bundles written before families read unchanged.
 */
export const TEXT_LENGTH_KEYS: Readonly<Record<FamilyId, readonly string[]>> = Object.freeze({
  flux1: ['clipMaxLength', 't5MaxLength'],
  flux2: ['qwenMaxLength'],
  zimage: ['qwenMaxLength'],
});

export const BundleConfigSchema = z
  .object({
    format: z.literal('dype-bundle'),
    version: z.literal(1),
    /** Which model family the bundle holds; bundles written before FLUX.2 have none and are FLUX.1. */
    family: z.enum(FAMILY_IDS).default('flux1'),
    name: z.string().min(1),
    description: z.string().default(''),
    /** True for the embedded untrained demo model: its images are abstract. */
    demo: z.boolean().default(false),
    /** Side length in pixels the model was trained at (FLUX: 1024). */
    nativeResolution: z.number().int().positive(),
    /** Image pixels per transformer token per side = patchSize × vae.scaleFactorPx. */
    pixelsPerToken: z.number().int().positive(),
    patchSize: z.number().int().positive(),
    latentChannels: z.number().int().positive(),
    vae: z
      .object({
        scaleFactorPx: z.number().int().positive(),
        scalingFactor: z.number().positive(),
        shiftFactor: z.number(),
        /**
         * The bundle has an encoder at vae_encoder/model.onnx (optimum's layout: `sample` in [-1, 1] →
         * `latent_parameters`, mean ‖ log-variance), which image-to-image needs. Both `dype convert` and
         * `dype import` set it when they write one.
         */
        encoder: z.boolean().default(false),
        /**
         * A BatchNorm-style normalisation of the packed latent tokens (FLUX.2): per packed feature,
         * z = (x − mean) / √(variance + eps). Absent: scalingFactor/shiftFactor alone (FLUX.1).
         */
        latentNorm: z
          .object({ mean: z.array(z.number()).min(1), variance: z.array(z.number().nonnegative()).min(1), eps: z.number().nonnegative() })
          .strict()
          .optional(),
      })
      .strict(),
    rope: z
      .object({
        axesDim: z.array(z.number().int().positive().multipleOf(2)).min(1),
        theta: z.number().gt(1),
        /** 'omega': transformer takes rope_omega/rope_mscale; 'tables': rope_cos/rope_sin. */
        inputs: z.enum(['omega', 'tables']),
      })
      .strict(),
    /** Tokens per prompt for each text encoder, keyed as TEXT_LENGTH_KEYS lists for the family. */
    text: z.record(z.string(), z.number().int().positive()),
    preview: z
      .object({
        latentRgbFactors: z.array(rgbRow).min(1),
        latentRgbBias: rgbRow,
      })
      .strict(),
    defaults: z
      .object({
        steps: z.number().int().positive(),
        /** null for models without a guidance embedding (schnell). */
        guidance: z.number().positive().nullable(),
        /** DyPE λs (ComfyUI-DyPE's dype_scale) for requests that leave it out. */
        dypeScale: fields.dypeScale.default(2),
        /** DyPE λt (dype_exponent), or 'auto' to pick it by the scale factor (see names.ts). */
        dypeExponent: fields.dypeExponent.default(2),
      })
      .strict(),
    /** Tiled VAE decode, in latent pixels; defaults to native-size tiles with a quarter overlap. */
    decode: z
      .object({
        tile: z.number().int().positive(),
        overlap: z.number().int().nonnegative(),
        /** Latent px at each inner tile edge left out of the blend (≥ the decoder's receptive field). */
        margin: z.number().int().nonnegative().optional(),
      })
      .strict()
      .optional(),
    limits: z
      .object({
        /** Largest side in pixels this bundle accepts. */
        maxSide: z.number().int().positive(),
        maxPixels: z.number().int().positive(),
      })
      .strict(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.pixelsPerToken !== c.patchSize * c.vae.scaleFactorPx) {
      ctx.addIssue({ code: 'custom', path: ['pixelsPerToken'], message: `must equal patchSize × vae.scaleFactorPx = ${c.patchSize * c.vae.scaleFactorPx}` });
    }
    if (c.nativeResolution % c.pixelsPerToken !== 0) {
      ctx.addIssue({ code: 'custom', path: ['nativeResolution'], message: `must be a multiple of pixelsPerToken (${c.pixelsPerToken})` });
    }
    if (c.decode && 2 * c.decode.overlap > c.decode.tile) {
      ctx.addIssue({ code: 'custom', path: ['decode', 'overlap'], message: 'must be at most half of decode.tile' });
    }
    if (c.decode?.margin !== undefined && 2 * c.decode.margin > c.decode.overlap) {
      ctx.addIssue({ code: 'custom', path: ['decode', 'margin'], message: 'must be at most half of decode.overlap' });
    }
    const textKeys = TEXT_LENGTH_KEYS[c.family];
    const keys = Object.keys(c.text);
    if (keys.length !== textKeys.length || textKeys.some((k) => !keys.includes(k))) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: `a ${c.family} bundle gives exactly ${textKeys.join(', ')} (got ${keys.join(', ') || 'none'})` });
    }
    const norm = c.vae.latentNorm;
    const features = c.latentChannels * c.patchSize ** 2;
    if (norm && (norm.mean.length !== features || norm.variance.length !== features)) {
      ctx.addIssue({ code: 'custom', path: ['vae', 'latentNorm'], message: `needs mean and variance per packed latent feature (${features})` });
    }
    if (c.preview.latentRgbFactors.length !== c.latentChannels) {
      ctx.addIssue({ code: 'custom', path: ['preview', 'latentRgbFactors'], message: `needs one row per latent channel (${c.latentChannels})` });
    }
  });

export type BundleConfig = z.infer<typeof BundleConfigSchema>;
export type BundleConfigInput = z.input<typeof BundleConfigSchema>;

/** A neutral preview projection for latent spaces without a published one: channels cycle over R, G, B. */
export function genericPreview(channels: number): BundleConfig['preview'] {
  return { latentRgbFactors: Array.from({ length: channels }, (_, c) => [0, 1, 2].map((k) => (k === c % 3 ? 0.3 : -0.05)) as [number, number, number]), latentRgbBias: [0, 0, 0] };
}
