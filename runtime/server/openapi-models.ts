/** The /v1/models* part of the OpenAPI document: operations and component schemas from the contract. */
import { z } from 'zod';
import { ActiveBodySchema, ActiveViewSchema, ModelsViewSchema, PullBodySchema, PullEventSchema, PullJobViewSchema, PullListViewSchema } from '../contract/index.ts';
import type { Route } from './routes.ts';

type Json = Record<string, unknown>;

export interface OpenApiParts {
  json: (schema: Json, description: string) => Json;
  ref: (name: string) => Json;
  tokenParam: Json;
  jsonSchema: (schema: z.ZodType, io: 'input' | 'output') => Json;
}

type ModelOperation = Extract<Route['operationId'], 'listModels' | 'listModelPulls' | 'createModelPull' | 'getModelPull' | 'streamModelPullEvents' | 'cancelModelPull' | 'setActiveModel'>;

export function modelOperations(p: OpenApiParts): Record<ModelOperation, Json> {
  const pullId = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  return {
    listModels: {
      summary: 'Installed models (the loaded one marked active) and the catalog, with licence, size and whether each fits this computer.',
      description: 'Catalog download sizes are asked of the Hugging Face Hub (HF_ENDPOINT) once; null when it could not be reached in time.',
      responses: { '200': p.json(p.ref('Models'), 'Models.') },
    },
    listModelPulls: {
      summary: 'This companion\'s model pulls since it started, newest first: running, queued and ended ones.',
      description: 'A client that opens later finds a pull already under way here, then follows it with /v1/models/pulls/{id}/events.',
      responses: { '200': p.json(p.ref('ModelPulls'), 'The pulls.') },
    },
    createModelPull: {
      summary: 'Download a model (a catalog name or hf:<owner>/<repo>[/<path>]) into the Hugging Face cache and convert it.',
      description:
        'Returns 202 with a pull job; its events stream from /v1/models/pulls/{id}/events. One pull runs at a time. Files are resumed from partial downloads, ' +
        'checked against the Hub\'s sha256, and space is checked before anything is fetched. Pulling a model again after a cancel resumes it.',
      requestBody: { required: true, content: { 'application/json': { schema: p.jsonSchema(PullBodySchema, 'input') } } },
      responses: { '202': p.json(p.ref('ModelPull'), 'Started (or queued).') },
    },
    getModelPull: {
      summary: 'One model pull.',
      parameters: [pullId],
      responses: { '200': p.json(p.ref('ModelPull'), 'The pull.') },
    },
    streamModelPullEvents: {
      summary: 'Server-sent events of one model pull: plan, per-file progress, verification, conversion, and how it ended.',
      description: 'Each event carries the whole job view. The state is replayed first; the stream ends after done, failed or cancelled (SSE id "end").',
      parameters: [pullId, p.tokenParam],
      responses: { '200': { description: 'Event stream.', content: { 'text/event-stream': { schema: p.ref('ModelPullEvent') } } } },
    },
    cancelModelPull: {
      summary: 'Stop a model pull; partial files are kept, and pulling the same model again resumes them.',
      parameters: [pullId],
      requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', additionalProperties: false } } } },
      responses: { '200': p.json(p.ref('ModelPull'), 'The pull after stopping.') },
    },
    setActiveModel: {
      summary: 'Switch the loaded model (an installed model\'s name, or a bundle folder).',
      description: 'The switch waits until the running job has ended; jobs submitted meanwhile wait in the queue and run on the new model. The choice is kept for the next start.',
      requestBody: { required: true, content: { 'application/json': { schema: p.jsonSchema(ActiveBodySchema, 'input') } } },
      responses: { '202': p.json(p.ref('ActiveModel'), 'Switching.') },
    },
  };
}

export function modelComponents(p: OpenApiParts): Record<string, Json> {
  return {
    Models: p.jsonSchema(ModelsViewSchema, 'output'),
    ModelPull: p.jsonSchema(PullJobViewSchema, 'output'),
    ModelPulls: p.jsonSchema(PullListViewSchema, 'output'),
    ModelPullEvent: p.jsonSchema(PullEventSchema, 'output'),
    ActiveModel: p.jsonSchema(ActiveViewSchema, 'output'),
  };
}
