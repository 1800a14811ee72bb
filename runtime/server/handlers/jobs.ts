/** The job routes: submit, list, get, cancel, and the finished image as a file stream. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ApiError } from '../errors.ts';
import { BASE_HEADERS, readJsonBody, sendJson } from '../http.ts';
import { DEFAULT_LIST_LIMIT, parseOrThrow } from '../schemas.ts';
import { requireBody, requireInit, requireJob, resolveParams, validId, type Handler, type Services } from './context.ts';

type JobHandlers = Record<'createJob' | 'listJobs' | 'getJob' | 'cancelJob' | 'getJobImage', Handler>;

export function jobHandlers(services: Services): JobHandlers {
  const { queue, schemas, store } = services;
  return {
    async createJob(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const body = parseOrThrow(schemas.job, await requireBody(ctx.req, services.bodyLimits), 'body');
      const { id, ...request } = body;
      if (body.init !== undefined) await requireInit(services, body.init);
      const params = resolveParams(services, body);
      // filled again when the job starts, in case a model switch changes the defaults meanwhile (same seed)
      const resolve = () => resolveParams(services, { ...body, seed: params.seed });
      const [outcome] = await queue.submit([{ id, params, resolve, request: { ...request }, source: 'jobs' }]);
      sendJson(ctx.res, outcome.created ? 202 : 200, outcome.job, { ...ctx.headers, Location: `/v1/jobs/${outcome.job.id}` });
    },

    async listJobs(ctx) {
      const query = parseOrThrow(schemas.listQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, { jobs: queue.list(query.limit ?? DEFAULT_LIST_LIMIT) }, ctx.headers);
    },

    async getJob(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, requireJob(queue, ctx.params.id), ctx.headers);
    },

    async cancelJob(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const id = validId(ctx.params.id);
      parseOrThrow(schemas.emptyBody, await readJsonBody(ctx.req, services.bodyLimits), 'body');
      sendJson(ctx.res, 200, await queue.cancel(id), ctx.headers);
    },

    async getJobImage(ctx) {
      parseOrThrow(schemas.tokenQuery, ctx.query, 'query');
      const id = validId(ctx.params.id);
      const record = queue.record(id);
      if (!record) throw new ApiError('job_not_found', `No job "${id}".`);
      if (record.state !== 'done' || !record.result) throw new ApiError('image_not_ready', `Job "${id}" is ${record.state}; it has no image.`);
      const path = store.imagePath(record.result);
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        throw new ApiError('image_missing', `The image of job "${id}" (images/${record.result.file}) is no longer in the data folder.`);
      }
      const { res } = ctx;
      res.writeHead(200, {
        ...BASE_HEADERS,
        ...ctx.headers,
        'Cache-Control': 'private, max-age=3600',
        'Content-Type': record.result.mimeType,
        'Content-Length': size,
        'Content-Disposition': `inline; filename="${record.result.file}"`,
      });
      const file = createReadStream(path);
      file.on('error', () => res.destroy());
      res.on('close', () => {
        file.destroy();
        if (!res.writableFinished) res.destroy();
      });
      file.pipe(res);
    },
  };
}
