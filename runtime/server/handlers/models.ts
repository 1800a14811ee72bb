/**
 * The model routes: GET /v1/models, GET and POST /v1/models/pulls (+ get, events, cancel), POST
 * /v1/models/active. Pulls and switching live in runtime/server/models.ts; this is the HTTP face.
 */
import { ActiveBodySchema, PullBodySchema, type PullEvent } from '../../contract/index.ts';
import { planInstall } from '../../models/install.ts';
import { clearActive, ModelNotFoundError, readActive, resolveModelRef, setActive, writeActive } from '../../models/installed.ts';
import { isBundleFolder } from '../../bundle/read.ts';
import { ApiError } from '../errors.ts';
import { readJsonBody, sendJson } from '../http.ts';
import type { ModelServices } from '../models.ts';
import { errorMessage } from '../queue.ts';
import { parseOrThrow } from '../schemas.ts';
import { requireBody, type Handler, type Services } from './context.ts';
import { openEventStream } from './sse.ts';

type ModelHandlers = Record<'listModels' | 'listModelPulls' | 'createModelPull' | 'getModelPull' | 'streamModelPullEvents' | 'cancelModelPull' | 'setActiveModel', Handler>;

const PULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TERMINAL = new Set<PullEvent['event']>(['done', 'failed', 'cancelled']);

export function modelHandlers(services: Services, models: ModelServices | null, log: (message: string) => void): ModelHandlers {
  const { schemas } = services;
  const need = (): ModelServices => {
    if (!models) throw new ApiError('models_unavailable');
    return models;
  };
  const pullId = (raw: string): string => {
    if (!PULL_ID.test(raw) || !need().pulls.get(raw)) throw new ApiError('pull_not_found', `No model pull "${raw.slice(0, 80)}".`);
    return raw;
  };

  return {
    async listModels(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, await need().view(services.info), ctx.headers);
    },

    async listModelPulls(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, { pulls: need().pulls.list() }, ctx.headers);
    },

    async createModelPull(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const { model } = parseOrThrow(PullBodySchema, await requireBody(ctx.req, services.bodyLimits), 'body');
      const m = need();
      try {
        planInstall(model);
      } catch (error) {
        throw new ApiError('model_not_found', errorMessage(error), { field: 'model' });
      }
      const job = m.pulls.start(model);
      sendJson(ctx.res, 202, job, { ...ctx.headers, Location: `/v1/models/pulls/${job.id}` });
    },

    async getModelPull(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, need().pulls.get(pullId(ctx.params.id)), ctx.headers);
    },

    async streamModelPullEvents(ctx) {
      parseOrThrow(schemas.tokenQuery, ctx.query, 'query');
      const id = pullId(ctx.params.id);
      const { pulls } = need();
      openEventStream<PullEvent>(services, ctx, {
        comment: 'dype model pull events',
        subscribe: (send) => pulls.subscribe(id, send),
        // byte counts come often: a slow reader may miss some, never a state change
        encode: (event) => ({ data: JSON.stringify(event), terminal: TERMINAL.has(event.event), droppable: event.event === 'file' }),
      });
    },

    async cancelModelPull(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const id = pullId(ctx.params.id);
      parseOrThrow(schemas.emptyBody, await readJsonBody(ctx.req, services.bodyLimits), 'body');
      const before = need().pulls.get(id)!;
      if (before.state === 'done' || before.state === 'failed') throw new ApiError('pull_not_cancellable', `The pull of ${before.model} has already ${before.state === 'done' ? 'finished' : 'failed'}.`);
      sendJson(ctx.res, 200, await need().pulls.cancel(id), ctx.headers);
    },

    async setActiveModel(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const { model } = parseOrThrow(ActiveBodySchema, await requireBody(ctx.req, services.bodyLimits), 'body');
      const m = need();
      let dir: string;
      try {
        dir = resolveModelRef(model, m.opts.dataDir);
      } catch (error) {
        if (error instanceof ModelNotFoundError) throw new ApiError('model_not_found', error.message, { field: 'model' });
        throw error;
      }
      if (!isBundleFolder(dir)) throw new ApiError('model_not_found', `${dir} holds no model bundle (no dype.json).`, { field: 'model' });
      if (!m.switcher) throw new ApiError('models_unavailable', 'This companion cannot switch models (it was started with a fixed engine).');
      const previous = readActive(m.opts.dataDir);
      // recorded now so a restart loads it too; put back if loading fails
      await setActive(m.opts.dataDir, model);
      m.switchError = null;
      m.switcher.switchTo(dir).then(
        () => log(`switched to ${model}`),
        async (error: unknown) => {
          m.switchError = `Could not load ${model}: ${errorMessage(error)}. The previous model stays loaded.`;
          log(m.switchError);
          await (previous ? writeActive(m.opts.dataDir, previous) : clearActive(m.opts.dataDir)).catch(() => {});
        },
      );
      sendJson(ctx.res, 202, { switching: model, loaded: { model: services.info.model, demo: services.info.demo, name: previous } }, ctx.headers);
    },
  };
}
