/**
 * The OpenAPI 3.1 document served at GET /openapi.json. Request bodies come from the zod schemas
 * (so limits match what the server enforces); paths must cover ROUTES exactly (a test checks).
 */
import { z } from 'zod';
import { ERRORS, ErrorBodySchema, HealthSchema, JobEventSchema, JobViewSchema, MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIDE, UPLOAD_TYPES, UploadViewSchema } from '../contract/index.ts';
import { formatBytes } from '../files/place.ts';
import { PAIRING_CODE_LENGTH } from './pairing.ts';
import type { ErrorCode } from './errors.ts';
import { routeErrors, ROUTES, type Route } from './routes.ts';
import { modelComponents, modelOperations, type OpenApiParts } from './openapi-models.ts';
import { BYTES_PER_PIXEL, DEFAULT_LIST_LIMIT, JOB_ID_PATTERN, MAX_LIST_LIMIT, type Limits, type Schemas } from './schemas.ts';

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });
const errorResponse = (description: string): Json => json(ref('Error'), description);

/** A request body as clients send it (`io: 'input'`), or a response as the server sends it. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

const bodySchema = (schema: z.ZodType): Json => jsonSchema(schema, 'input');

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: JOB_ID_PATTERN.source } };
const tokenParam = {
  name: 'token',
  in: 'query',
  required: false,
  description: 'The API token, for clients that cannot send an Authorization header (EventSource, <img>). Only on this route.',
  schema: { type: 'string' },
};

/**
 * One response per status among the errors `route` can answer (routes.ts), naming each code with its
 * meaning. The error body's `field` names the offending field where there is one.
 */
function errorResponses(route: Route): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of routeErrors(route)) byStatus.set(ERRORS[code].status, [...(byStatus.get(ERRORS[code].status) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].sort(([a], [b]) => a - b).map(([status, codes]) => [String(status), errorResponse(codes.map((code) => `${code}: ${ERRORS[code].message}`).join(' '))]),
  );
}

export interface OpenApiInput {
  version: string;
  limits: Limits;
  schemas: Schemas;
  bodyLimit: number;
  /** The upload rules in force (options may change every one of them). */
  uploads: UploadRules;
}

export interface UploadRules {
  /** Largest image body in bytes. */
  maxBytes: number;
  /** An upload is deleted this long after its last use. */
  retentionMs: number;
  /** Past this total, the least recently used uploads are deleted. */
  maxTotalBytes: number;
}

export function buildOpenApi({ version, limits, schemas, bodyLimit, uploads }: OpenApiInput): Json {
  const openAiResponses: Json = {
    '200': json(
      {
        type: 'object',
        properties: {
          created: { type: 'integer', description: 'Unix seconds.' },
          data: { type: 'array', items: { type: 'object', properties: { b64_json: { type: 'string' }, revised_prompt: { type: 'string' } }, required: ['b64_json'] } },
        },
        required: ['created', 'data'],
      },
      'The images.',
    ),
  };

  const parts: OpenApiParts = { json, ref, tokenParam, jsonSchema };
  const operations: Record<Route['operationId'], Json> = {
    ...modelOperations(parts),
    getHealth: {
      summary: 'Liveness and capabilities. No token needed.',
      security: [],
      responses: { '200': json(ref('Health'), 'The companion is up.') },
    },
    getOpenApi: {
      summary: 'This document. No token needed.',
      security: [],
      responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1 document.') },
    },
    pair: {
      summary: 'Exchange the pairing code shown by the companion for the API token.',
      description:
        `The companion prints an ${PAIRING_CODE_LENGTH}-character code (Crockford base32; case, dashes and spaces are ignored). ` +
        'The plugin sends it here once, stores the token, and sends "Authorization: Bearer <token>" from then on. ' +
        'Wrong codes are rate limited: at most 5 wrong codes are compared per minute, counted once the body has arrived (a body that stalls 10 s gets 408); after that every attempt ' +
        'gets 429 too_many_attempts (with Retry-After) until the oldest is a minute old. The budget is shared by all callers, so another page ' +
        'sending wrong codes delays pairing for as long as it keeps doing so; the token itself is never affected.',
      security: [],
      requestBody: { required: true, content: { 'application/json': { schema: bodySchema(schemas.pair) } } },
      responses: {
        '200': json({ type: 'object', properties: { token: { type: 'string' } }, required: ['token'] }, 'The token.'),
      },
    },
    createJob: {
      summary: 'Queue a generation job.',
      description:
        'Returns 202 with the job. With a client-chosen `id`, resubmitting the same request returns the existing job (200); ' +
        'the same id with a different request is 409 job_conflict. Omitted fields take the model defaults; an omitted seed is random.',
      requestBody: { required: true, content: { 'application/json': { schema: bodySchema(schemas.job) } } },
      responses: {
        '202': json(ref('Job'), 'Queued (or started right away).'),
        '200': json(ref('Job'), 'A job with this id and request already exists.'),
      },
    },
    createUpload: {
      summary: 'Upload an image to start a job from (its `init`).',
      description:
        'The body is the raw bytes of one PNG, JPEG or WebP image, with that Content-Type (image/png, image/jpeg, image/webp). ' +
        'Bodies go to disk as they arrive, a few at once (429 too_many_uploads with Retry-After past that). ' +
        `At most ${uploads.maxBytes} bytes (${formatBytes(uploads.maxBytes)}; 413 payload_too_large), ${MAX_UPLOAD_SIDE} px a side and ${MAX_UPLOAD_PIXELS} pixels, checked from the header ` +
        'before any pixel is decoded (422 image_dimensions_too_large: decompression bombs are refused); then the file is read to its end marker and every pixel is decoded ' +
        '(400 invalid_image for a file cut short or damaged). Only the image\'s own bytes are stored (anything after its end is cut off). ' +
        `Stored in the data folder; deleted ${formatDuration(uploads.retentionMs)} after its last use (submitting a job that names it is a use), ` +
        `and least recently used first while all uploads are over ${uploads.maxTotalBytes} bytes (${formatBytes(uploads.maxTotalBytes)}).`,
      requestBody: {
        required: true,
        content: Object.fromEntries(Object.keys(UPLOAD_TYPES).map((type) => [type, { schema: { type: 'string', format: 'binary' } }])),
      },
      responses: {
        '201': json(ref('Upload'), 'Stored.'),
      },
    },
    listJobs: {
      summary: 'Recent jobs, newest first (including jobs from earlier runs).',
      parameters: [{ name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT } }],
      responses: {
        '200': json({ type: 'object', properties: { jobs: { type: 'array', items: ref('Job') } }, required: ['jobs'] }, 'Jobs.'),
      },
    },
    getJob: {
      summary: 'One job.',
      parameters: [idParam],
      responses: { '200': json(ref('Job'), 'The job.') },
    },
    streamJobEvents: {
      summary: 'Server-sent events for one job.',
      description:
        'Each message is an unnamed SSE event whose data is one JSON JobEvent. The current state is replayed first ' +
        '(queued with position; or started, the last progress and preview; or the terminal event), so a late subscriber still ' +
        'sees how the job ended. The stream ends after a terminal event (done, failed, cancelled, interrupted), which carries ' +
        'SSE id "end": an EventSource that reconnects after it sends Last-Event-ID: end and gets 204, which stops it. ' +
        'Comments (": ping") are sent every 15 s.',
      parameters: [idParam, tokenParam],
      responses: {
        '200': { description: 'Event stream.', content: { 'text/event-stream': { schema: ref('JobEvent') } } },
        '204': { description: 'Reconnect after the terminal event (Last-Event-ID: end): nothing more to send.' },
      },
    },
    cancelJob: {
      summary: 'Cancel a job.',
      description: 'A queued job leaves the queue; a running one is aborted and stops within one step (the answer waits for that). Cancelling a cancelled job is a no-op.',
      parameters: [idParam],
      requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', additionalProperties: false } } } },
      responses: {
        '200': json(ref('Job'), 'The job after cancelling.'),
      },
    },
    getJobImage: {
      summary: 'The generated image file.',
      parameters: [idParam, tokenParam],
      responses: {
        '200': {
          description: 'Image bytes with Content-Type and Content-Length.',
          content: { 'image/png': { schema: { type: 'string', format: 'binary' } }, 'image/jpeg': { schema: { type: 'string', format: 'binary' } } },
        },
      },
    },
    createImage: {
      summary: 'OpenAI-compatible image generation (waits for the result).',
      description:
        'Like OpenAI\'s POST /v1/images/generations. `size` is "WxH" (default: the model\'s native size), `n` 1–4, ' +
        '`response_format` must be "b64_json" (the default). `model` and `user` are accepted and ignored. ' +
        'The jobs go through the same queue and are listed under /v1/jobs. Closing the connection cancels them.',
      requestBody: { required: true, content: { 'application/json': { schema: bodySchema(schemas.openai) } } },
      responses: openAiResponses,
    },
    editImage: {
      summary: 'OpenAI-compatible image edit: refine or extend an image (waits for the result).',
      description:
        'Like OpenAI\'s POST /v1/images/edits, multipart/form-data: `image` (file: PNG, JPEG or WebP, any size; stored as an upload and used as the job\'s init), ' +
        'optional `mask` (file of the image\'s size; OpenAI semantics: the image is the whole picture, fully transparent pixels are the area to generate and the others ' +
        'stay where they are, exactly; the kept pixels must form one rectangle, which becomes the job\'s `keep`, and the picture under it its `init`), `prompt`, `size` ("WxH"; default: the image\'s size), ' +
        '`n` 1–4, `response_format` ("b64_json"), and this server\'s `seed`, `steps`, `strength`. Malformed multipart is 400 invalid_multipart.',
      requestBody: { required: true, content: { 'multipart/form-data': { schema: { type: 'object', properties: { image: { type: 'string', format: 'binary' }, mask: { type: 'string', format: 'binary' }, ...((bodySchema(schemas.edits).properties as Json | undefined) ?? {}) }, required: ['image', 'prompt'] } } } },
      responses: openAiResponses,
    },
  };

  const paths: Record<string, Record<string, Json>> = {};
  for (const route of ROUTES) {
    const operation = operations[route.operationId];
    (paths[route.path] ??= {})[route.method.toLowerCase()] = { operationId: route.operationId, ...operation, responses: { ...(operation.responses as Json), ...errorResponses(route) } };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'DyPE companion',
      version,
      description:
        'Local HTTP service that generates images for the DyPE Figma plugin. Listens on 127.0.0.1 and ::1 only. ' +
        `Size rules: width and height ${limits.minSide}–${limits.maxSide}, width×height ≤ ${limits.maxPixels}, steps 1–${limits.maxSteps}. ` +
        `Bodies are JSON, at most ${bodyLimit} bytes. Every error body is {"error": {"code", "message", "field"?}}.`,
    },
    servers: [{ url: 'http://localhost:7860' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The token from the data folder, --token, DYPE_TOKEN, or POST /v1/pair.' } },
      schemas: {
        Error: jsonSchema(ErrorBodySchema, 'output'),
        Health: withDescriptions(jsonSchema(HealthSchema, 'output'), {
          maxPixels:
            `min(model limit, memory budget): the budget is (total RAM − the companion's resident memory once the model is loaded) / ${BYTES_PER_PIXEL} bytes per pixel, ` +
            'measured at start. Memory used by other programs and GPU memory are not considered.',
          queueLength: 'Running plus waiting jobs.',
        }),
        Upload: jsonSchema(UploadViewSchema, 'output'),
        Job: withDescriptions(jsonSchema(JobViewSchema, 'output'), { position: '1-based among waiting jobs, 0 while running, null when finished.' }),
        JobEvent: {
          description:
            'One shape for every event: {event, jobId, state, progress, ...}. queued: position. progress: step, steps, sigma, elapsedMs, etaMs. ' +
            'preview: step, png (base64), width, height (throttled). decoding: tile, tiles (after the last step). done: result. failed/interrupted: error. progress stays below 1 until done.',
          ...jsonSchema(JobEventSchema, 'output'),
        },
        ...modelComponents(parts),
      },
    },
  };
}

/** `24 h`, `90 s`, `250 ms`: the largest unit that divides the duration. */
function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** Adds descriptions to top-level properties of a generated object schema. */
function withDescriptions(schema: Json, descriptions: Record<string, string>): Json {
  const properties = schema.properties as Record<string, Json>;
  for (const [name, description] of Object.entries(descriptions)) properties[name] = { ...properties[name], description };
  return schema;
}
