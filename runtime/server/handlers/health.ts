/** GET /v1/health and GET /openapi.json: what this companion is and can do. No token needed. */
import type { Health } from '../../contract/index.ts';
import { IMAGE_FORMATS } from '../../pipeline/types.ts';
import { sendJson } from '../http.ts';
import { parseOrThrow } from '../schemas.ts';
import type { Handler, Services } from './context.ts';

export function healthHandlers(services: Services): { getHealth: Handler; getOpenApi: Handler } {
  const { info, limits, queue, schemas } = services;
  return {
    async getHealth(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      const q = queue.stats;
      const health: Health = {
        ok: true,
        version: services.version,
        model: info.model,
        ...(info.family ? { family: info.family } : {}),
        demo: info.demo,
        nativeResolution: info.nativeResolution,
        pixelsPerToken: info.pixelsPerToken,
        minSide: limits.minSide,
        maxSide: limits.maxSide,
        maxPixels: limits.maxPixels,
        maxSteps: limits.maxSteps,
        provider: info.provider,
        skippedProviders: info.providerSelection?.skipped ?? [],
        adapter: info.providerSelection?.adapter ?? null,
        defaultSteps: info.defaultSteps,
        defaultGuidance: info.defaultGuidance,
        defaultDypeScale: info.defaultDypeScale,
        defaultDypeExponent: info.defaultDypeExponent,
        methods: [...info.methods],
        formats: [...IMAGE_FORMATS],
        imageToImage: info.imageToImage !== false,
        ...(info.memoryPlan ? { memory: info.memoryPlan } : {}),
        queueLength: q.running + q.waiting,
        queue: { running: q.running, waiting: q.waiting, capacity: q.capacity },
      };
      sendJson(ctx.res, 200, health, ctx.headers);
    },

    async getOpenApi(ctx) {
      parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
      sendJson(ctx.res, 200, services.openapi, ctx.headers);
    },
  };
}
