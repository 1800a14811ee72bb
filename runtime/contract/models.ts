/**
 * Models on the wire: GET /v1/models (installed and catalog), POST /v1/models/pulls (a pull job and
 * the one event shape of its SSE stream), POST /v1/models/active (switch the loaded model).
 */
import * as z from 'zod';

export const LicenceViewSchema = z.object({
  name: z.string(),
  url: z.string(),
  /** The licence's own words on commercial use, quoted. */
  commercialUse: z.string().optional(),
});

export const CatalogEntryViewSchema = z.object({
  name: z.string(),
  label: z.string(),
  family: z.string(),
  variant: z.string(),
  quantization: z.string(),
  gated: z.boolean(),
  licence: LicenceViewSchema,
  nativeSize: z.number().int(),
  defaultSteps: z.number().int(),
  /** The least memory it runs in at its native size, per provider (the memory planner); null for a family the planner does not know yet. */
  memory: z.object({ cpu: z.object({ ramBytes: z.number() }), gpu: z.object({ gpuBytes: z.number(), ramBytes: z.number() }) }).nullable(),
  /** It runs at its native size on this computer, as the memory planner judges it on `fitsOn`; null when that cannot be told. */
  fits: z.boolean().nullable(),
  /** Download size, from the Hub when it could be asked; null when it could not (offline, gated without token). */
  downloadBytes: z.number().nullable(),
  installed: z.boolean(),
});
export type CatalogEntryView = z.output<typeof CatalogEntryViewSchema>;

export const InstalledModelViewSchema = z.object({
  name: z.string(),
  /** The model's name in its dype.json. */
  model: z.string(),
  label: z.string(),
  family: z.string().nullable(),
  quantization: z.string().nullable(),
  licence: LicenceViewSchema.nullable(),
  /** Repositories it was pulled from. */
  repos: z.array(z.string()),
  active: z.boolean(),
});
export type InstalledModelView = z.output<typeof InstalledModelViewSchema>;

export const ModelsViewSchema = z.object({
  /** The model the companion runs now. */
  loaded: z.object({ model: z.string(), demo: z.boolean(), name: z.string().nullable() }),
  /** The model being switched to, when a switch waits for the running job or is loading. */
  switching: z.string().nullable(),
  /** Why the last switch failed (the previous model stayed loaded). */
  switchError: z.string().nullable(),
  installed: z.array(InstalledModelViewSchema),
  catalog: z.array(CatalogEntryViewSchema),
  /** This computer's RAM, and its GPU memory where known. */
  memoryBytes: z.number(),
  gpuBytes: z.number().nullable(),
  /** The provider "fits" is judged on: the one the companion runs. */
  fitsOn: z.string(),
});
export type ModelsView = z.output<typeof ModelsViewSchema>;

/** A catalog name, or hf:<owner>/<repo>[/<path>]. */
export const PullBodySchema = z.object({ model: z.string().min(1).max(300) }).strict();
export type PullBody = z.output<typeof PullBodySchema>;

export const PULL_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type PullState = (typeof PULL_STATES)[number];

export const PullFileViewSchema = z.object({ repo: z.string(), path: z.string(), size: z.number(), have: z.number(), state: z.enum(['waiting', 'fetching', 'verifying', 'done']) });
export type PullFileView = z.output<typeof PullFileViewSchema>;

export const PullJobViewSchema = z.object({
  id: z.string(),
  model: z.string(),
  state: z.enum(PULL_STATES),
  /** 'listing' (asking the Hub), 'fetching', 'converting', or null when ended. */
  phase: z.enum(['listing', 'fetching', 'converting']).nullable(),
  progress: z.number().min(0).max(1),
  totalBytes: z.number(),
  doneBytes: z.number(),
  files: z.array(PullFileViewSchema),
  /** The installed model's name once done (null for a pull of files only). */
  installed: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string(), file: z.string().optional() }).nullable(),
});
export type PullJobView = z.output<typeof PullJobViewSchema>;

/** GET /v1/models/pulls: this companion's pulls, newest first (a reopened plugin finds the one running). */
export const PullListViewSchema = z.object({ pulls: z.array(PullJobViewSchema) });
export type PullListView = z.output<typeof PullListViewSchema>;

/** Every SSE event of a pull: the job as it is now, and what just happened. */
export const PullEventSchema = z.object({
  event: z.enum(['state', 'plan', 'file', 'verify', 'convert', 'done', 'failed', 'cancelled']),
  /** For 'convert': the converter's line. For 'file'/'verify': the file. */
  detail: z.string().optional(),
  job: PullJobViewSchema,
});
export type PullEvent = z.output<typeof PullEventSchema>;

/** An installed model's name (GET /v1/models), or a bundle folder. */
export const ActiveBodySchema = z.object({ model: z.string().min(1).max(1000) }).strict();
export type ActiveBody = z.output<typeof ActiveBodySchema>;

export const ActiveViewSchema = z.object({
  /** The model that will run the next job: the requested one once loaded. */
  switching: z.string().nullable(),
  loaded: z.object({ model: z.string(), demo: z.boolean(), name: z.string().nullable() }),
});
export type ActiveView = z.output<typeof ActiveViewSchema>;
