/** POST /v1/images/generations: OpenAI-compatible, through the same queue, waiting for the images. */
import { readFile } from 'node:fs/promises';
import { ApiError } from '../errors.ts';
import { sendJson } from '../http.ts';
import type { JobView } from '../protocol.ts';
import type { JobSpec } from '../queue.ts';
import { MAX_SEED, parseOrThrow, type OpenAiBody } from '../schemas.ts';
import { defaultSize, randomSeed, requireBody, resolveParams, type Context, type Handler, type Services } from './context.ts';

export function openAiHandler(services: Services): Handler {
  const { schemas } = services;
  return async (ctx) => {
    parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
    const body: OpenAiBody = parseOrThrow(schemas.openai, await requireBody(ctx.req, services.bodyLimits), 'body');
    const [width, height] = body.size ?? defaultSize(services);
    await answerOpenAi(services, ctx, body, (seed) => resolveParams(services, { prompt: body.prompt, width, height, steps: body.steps, seed }), { ...body, size: `${width}x${height}` });
  };
}

/**
 * The OpenAI image routes' common part: `n` jobs (seeds counting up from `seed`) through the queue,
 * waited for, answered as `{ created, data: [{ b64_json }] }`. Closing the connection cancels them.
 */
export async function answerOpenAi(
  services: Services,
  ctx: Context,
  body: Pick<OpenAiBody, 'n' | 'seed' | 'response_format'>,
  paramsFor: (seed: number) => JobSpec['params'],
  request: Record<string, unknown>,
  /** Undoes what the request stored when the queue refuses its jobs (queue_full, shutting down). */
  onRefused?: () => Promise<void>,
): Promise<void> {
  const { queue, store } = services;
  requireB64Json(body);
  const firstSeed = body.seed ?? randomSeed();
  const specs: JobSpec[] = Array.from({ length: body.n ?? 1 }, (_, i) => ({
    params: paramsFor((firstSeed + i) % (MAX_SEED + 1)),
    resolve: () => paramsFor((firstSeed + i) % (MAX_SEED + 1)),
    request: { ...request, index: i },
    source: 'openai',
  }));
  // the client hanging up cancels whatever has not finished (also if it hangs up while we submit)
  let jobs: JobView[] = [];
  let answered = false;
  let gone = false;
  const cancelAll = () => jobs.forEach((job) => void queue.cancel(job.id).catch(() => {}));
  ctx.res.on('close', () => {
    gone = !answered;
    if (gone) cancelAll();
  });
  try {
    jobs = (await queue.submit(specs)).map((o) => o.job);
  } catch (error) {
    await onRefused?.();
    throw error;
  }
  if (gone) cancelAll();
  const finished = await Promise.all(jobs.map((job) => queue.wait(job.id)));
  answered = true;
  const failed = finished.find((job) => job.state !== 'done');
  if (failed) throw openAiFailure(failed);
  const data = await Promise.all(finished.map(async (job) => ({ b64_json: (await readFile(store.imagePath(queue.record(job.id)!.result!))).toString('base64') })));
  sendJson(ctx.res, 200, { created: Math.floor(Date.now() / 1000), data }, ctx.headers);
}

/** Throws unsupported_response_format unless the images are asked for inline (the only way we answer). */
export function requireB64Json(body: Pick<OpenAiBody, 'response_format'>): void {
  if (body.response_format !== undefined && body.response_format !== 'b64_json') {
    throw new ApiError('unsupported_response_format', `response_format ${JSON.stringify(body.response_format).slice(0, 40)} is not supported: this server does not host images at URLs; use "b64_json".`, { field: 'response_format' });
  }
}

function openAiFailure(job: JobView): ApiError {
  if (job.state === 'cancelled') return new ApiError('job_cancelled', `Job ${job.id} was cancelled before it finished.`);
  if (job.state === 'interrupted') return new ApiError('shutting_down', job.error?.message);
  return new ApiError('generation_failed', `Job ${job.id} failed: ${job.error?.message ?? 'unknown error'}`);
}
