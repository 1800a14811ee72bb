/** GET /v1/health: liveness and what this companion can do. No token needed. */
import { z } from 'zod';
import { GENERATION_METHODS, IMAGE_FORMATS } from './rules.ts';

export const HealthSchema = z.object({
  ok: z.literal(true),
  /** The companion's package version; a client checks the major. */
  version: z.string(),
  model: z.string(),
  /** True for the embedded untrained demo model: its images are abstract. */
  demo: z.boolean(),
  nativeResolution: z.number().int(),
  pixelsPerToken: z.number().int(),
  minSide: z.number().int(),
  maxSide: z.number().int(),
  /** min(model limit, memory budget), measured at start. */
  maxPixels: z.number().int(),
  maxSteps: z.number().int(),
  /** Execution provider in use, e.g. "cpu" or "cuda". */
  provider: z.string(),
  defaultSteps: z.number().int(),
  defaultGuidance: z.number().nullable(),
  methods: z.array(z.enum(GENERATION_METHODS)),
  formats: z.array(z.enum(IMAGE_FORMATS)),
  /** Jobs may carry `init` (the model has a VAE encoder); absent from older companions. */
  imageToImage: z.boolean().optional(),
  /** Running plus waiting jobs. */
  queueLength: z.number().int(),
  queue: z.object({ running: z.number().int(), waiting: z.number().int(), capacity: z.number().int() }),
});
export type Health = z.output<typeof HealthSchema>;

/** The companion's major version whose API this contract describes. */
export const COMPANION_MAJOR = 0;
