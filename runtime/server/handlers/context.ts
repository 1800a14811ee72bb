/**
 * What every route handler gets: the request and response, its route match, and the companion's
 * services. Handlers are small functions of (services, ctx); app.ts wires them to ROUTES.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { EngineInfo } from '../engine.ts';
import { ApiError } from '../errors.ts';
import { readJsonBody, type BodyLimits } from '../http.ts';
import type { JobParams, JobStore } from '../jobs.ts';
import type { PairingLimiter } from '../pairing.ts';
import type { JobView } from '../protocol.ts';
import type { JobQueue } from '../queue.ts';
import type { Route } from '../routes.ts';
import { jobIdProblem, MAX_SEED, type JobBody, type Limits, type Schemas } from '../schemas.ts';
import type { UploadStore } from '../uploads.ts';
import type { UploadSlots } from './uploads.ts';
import { GENERATION_DEFAULTS, UPLOAD_ID_PATTERN } from '../../contract/index.ts';
import type { GenerationMethod } from '../../pipeline/types.ts';

export interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  route: Route;
  params: Record<string, string>;
  query: Record<string, string>;
  /** CORS headers for this request's Origin. */
  headers: Record<string, string>;
}

export type Handler = (ctx: Context) => Promise<void>;

export interface Services {
  info: EngineInfo;
  version: string;
  token: string;
  limits: Limits;
  schemas: Schemas;
  bodyLimits: BodyLimits;
  /** Limits of an image body (POST /v1/uploads, the files of /v1/images/edits). */
  uploadLimits: BodyLimits;
  uploads: UploadStore;
  /** Image bodies received at once (uploads and edits); more get 429 too_many_uploads. */
  uploadSlots: UploadSlots;
  queue: JobQueue;
  store: JobStore;
  openapi: Record<string, unknown>;
  pairingCode: string;
  pairing: PairingLimiter;
  heartbeatMs: number;
  /** Open SSE responses, each with the function that ends it (close() ends them all). */
  streams: Map<ServerResponse, () => void>;
}

/** The JSON body, which the route requires. */
export async function requireBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const body = await readJsonBody(req, limits);
  if (body === undefined) throw new ApiError('invalid_json', 'The body is empty; send a JSON object.');
  return body;
}

export function validId(id: string): string {
  const problem = jobIdProblem(id);
  if (problem) throw new ApiError('invalid_job_id', `Job id ${JSON.stringify(id).slice(0, 80)} is not valid: it ${problem}.`, { field: 'id' });
  return id;
}

export function requireJob(queue: JobQueue, rawId: string): JobView {
  const id = validId(rawId);
  const job = queue.get(id);
  if (!job) throw new ApiError('job_not_found', `No job "${id}".`);
  return job;
}

/** The model's native size, within this machine's limits. */
export function defaultSize(services: Services): [number, number] {
  const side = Math.min(services.info.nativeResolution, services.limits.maxSide);
  return [side, side];
}

export function randomSeed(): number {
  return randomInt(0, MAX_SEED + 1);
}

/** A job body with the engine's defaults filled in: the params record that fully describes the work. */
export function resolveParams(services: Services, body: Omit<JobBody, 'id'>): JobParams {
  const { info } = services;
  const [w, h] = defaultSize(services);
  const imageToImage = body.init === undefined ? {} : { init: body.init, strength: body.strength ?? GENERATION_DEFAULTS.strength, ...(body.keep ? { keep: body.keep } : {}) };
  return {
    ...imageToImage,
    prompt: body.prompt,
    width: body.width ?? w,
    height: body.height ?? h,
    seed: body.seed ?? randomSeed(),
    steps: body.steps ?? info.defaultSteps,
    guidance: body.guidance ?? info.defaultGuidance,
    method: body.method ?? defaultMethod(info.methods),
    format: body.format ?? GENERATION_DEFAULTS.format,
    dypeScale: body.dypeScale ?? info.defaultDypeScale,
    dypeExponent: body.dypeExponent ?? info.defaultDypeExponent,
    yarnScaling: body.yarnScaling ?? GENERATION_DEFAULTS.yarnScaling,
  };
}

/** The contract's default method where the engine has it; otherwise the engine's first. */
function defaultMethod(methods: readonly GenerationMethod[]): GenerationMethod {
  return methods.includes(GENERATION_DEFAULTS.method) ? GENERATION_DEFAULTS.method : (methods[0] ?? 'base');
}

/**
 * Checks that `init` names an image this companion has: an upload (its expiry pushed back) or a
 * finished job. Throws init_not_found / init_not_ready, naming the field.
 */
export async function requireInit(services: Services, id: string): Promise<void> {
  requireImageToImage(services, 'init');
  if (UPLOAD_ID_PATTERN.test(id)) {
    if (!(await services.uploads.use(id))) throw new ApiError('init_not_found', `No upload "${id}" (uploads are deleted 24 h after their last use).`, { field: 'init' });
    return;
  }
  const record = services.queue.record(id);
  if (!record) throw new ApiError('init_not_found', `init "${id}" is neither an upload nor a job of this companion.`, { field: 'init' });
  if (record.state !== 'done' || !record.result) throw new ApiError('init_not_ready', `init job "${id}" is ${record.state}; only a done job has an image.`, { field: 'init' });
}

/** Throws invalid_field, naming `field`, when the model cannot start from an image. */
export function requireImageToImage(services: Pick<Services, 'info'>, field: string): void {
  if (services.info.imageToImage === false) {
    throw new ApiError('invalid_field', `${field}: the model ${services.info.model} has no VAE encoder, so it cannot start from an image.`, { field });
  }
}

/** The bytes of an init the queue is about to use: an upload's, or a finished job's image. */
export async function readInit(services: Pick<Services, 'uploads' | 'queue' | 'store'>, id: string): Promise<Uint8Array> {
  if (UPLOAD_ID_PATTERN.test(id)) {
    const bytes = await services.uploads.read(id);
    if (!bytes) throw new Error(`The init upload ${id} is gone (uploads are deleted 24 h after their last use).`);
    return bytes;
  }
  const result = services.queue.record(id)?.result;
  if (!result) throw new Error(`The init job ${id} has no image.`);
  return new Uint8Array(await readFile(services.store.imagePath(result)));
}
