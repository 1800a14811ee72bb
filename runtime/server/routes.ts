/**
 * The route table: one list that the router, the token check, the error check and the OpenAPI
 * document all read, with every error each route can answer.
 */
import type { ErrorCode } from './errors.ts';

export type Auth = 'none' | 'token' | 'token-or-query';

export interface RouteSpec {
  method: 'GET' | 'POST';
  /** OpenAPI path template; `{name}` matches one path segment. */
  path: string;
  operationId: string;
  /** 'token-or-query': also accepts `?token=`, for EventSource and <img>, which cannot send headers. */
  auth: Auth;
  /** The errors its handler can answer (those every route can answer are in `routeErrors`). */
  errors: readonly ErrorCode[];
}

/**
 * Any request: node's parser, Host, Origin, a malformed query, shutdown and bugs (the envelope), and
 * the query check every handler makes (a parameter it does not take).
 */
const EVERY_ROUTE: readonly ErrorCode[] = ['bad_request', 'request_timeout', 'bad_host', 'bad_origin', 'invalid_field', 'unknown_field', 'shutting_down', 'internal_error'];
const JSON_BODY: readonly ErrorCode[] = ['unsupported_media_type', 'body_too_large', 'request_timeout', 'invalid_json', 'missing_field', 'unknown_field', 'invalid_field'];
const IMAGE_BODY: readonly ErrorCode[] = ['too_many_uploads', 'payload_too_large', 'request_timeout', 'invalid_image', 'image_dimensions_too_large'];
const JOB_ID: readonly ErrorCode[] = ['invalid_job_id', 'job_not_found'];
const SUBMIT: readonly ErrorCode[] = ['image_too_large', 'queue_full', 'storage_error', 'shutting_down'];
const OPENAI: readonly ErrorCode[] = [...SUBMIT, 'unsupported_response_format', 'job_cancelled', 'generation_failed'];
const MODELS: readonly ErrorCode[] = ['models_unavailable'];
const PULL_ID: readonly ErrorCode[] = [...MODELS, 'pull_not_found'];

export const ROUTES = [
  { method: 'GET', path: '/v1/health', operationId: 'getHealth', auth: 'none', errors: [] },
  { method: 'GET', path: '/openapi.json', operationId: 'getOpenApi', auth: 'none', errors: [] },
  { method: 'POST', path: '/v1/pair', operationId: 'pair', auth: 'none', errors: [...JSON_BODY, 'pairing_failed', 'too_many_attempts'] },
  { method: 'POST', path: '/v1/uploads', operationId: 'createUpload', auth: 'token', errors: ['unsupported_image_type', ...IMAGE_BODY] },
  { method: 'POST', path: '/v1/jobs', operationId: 'createJob', auth: 'token', errors: [...JSON_BODY, ...SUBMIT, 'invalid_job_id', 'job_conflict', 'init_not_found', 'init_not_ready'] },
  { method: 'GET', path: '/v1/jobs', operationId: 'listJobs', auth: 'token', errors: [] },
  { method: 'GET', path: '/v1/jobs/{id}', operationId: 'getJob', auth: 'token', errors: JOB_ID },
  { method: 'GET', path: '/v1/jobs/{id}/events', operationId: 'streamJobEvents', auth: 'token-or-query', errors: JOB_ID },
  { method: 'POST', path: '/v1/jobs/{id}/cancel', operationId: 'cancelJob', auth: 'token', errors: [...JSON_BODY, ...JOB_ID, 'job_not_cancellable'] },
  { method: 'GET', path: '/v1/jobs/{id}/image', operationId: 'getJobImage', auth: 'token-or-query', errors: [...JOB_ID, 'image_not_ready', 'image_missing'] },
  { method: 'POST', path: '/v1/images/generations', operationId: 'createImage', auth: 'token', errors: [...JSON_BODY, ...OPENAI] },
  {
    method: 'POST',
    path: '/v1/images/edits',
    operationId: 'editImage',
    auth: 'token',
    errors: ['unsupported_media_type', 'invalid_multipart', 'missing_field', 'unknown_field', 'invalid_field', ...IMAGE_BODY, ...OPENAI],
  },
  { method: 'GET', path: '/v1/models', operationId: 'listModels', auth: 'token', errors: MODELS },
  { method: 'GET', path: '/v1/models/pulls', operationId: 'listModelPulls', auth: 'token', errors: MODELS },
  { method: 'POST', path: '/v1/models/pulls', operationId: 'createModelPull', auth: 'token', errors: [...JSON_BODY, ...MODELS, 'model_not_found'] },
  { method: 'GET', path: '/v1/models/pulls/{id}', operationId: 'getModelPull', auth: 'token', errors: PULL_ID },
  { method: 'GET', path: '/v1/models/pulls/{id}/events', operationId: 'streamModelPullEvents', auth: 'token-or-query', errors: PULL_ID },
  { method: 'POST', path: '/v1/models/pulls/{id}/cancel', operationId: 'cancelModelPull', auth: 'token', errors: [...JSON_BODY, ...PULL_ID, 'pull_not_cancellable'] },
  { method: 'POST', path: '/v1/models/active', operationId: 'setActiveModel', auth: 'token', errors: [...JSON_BODY, ...MODELS, 'model_not_found'] },
] as const satisfies readonly RouteSpec[];

export type Route = (typeof ROUTES)[number];
export type OperationId = Route['operationId'];

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/** Every error `route` can answer: its handler's, those of every route, and 401 where a token is needed. */
export function routeErrors(route: RouteSpec): ReadonlySet<ErrorCode> {
  return new Set<ErrorCode>([...EVERY_ROUTE, ...(route.auth === 'none' ? [] : (['unauthorized'] as const)), ...route.errors]);
}

/** Matches path segments against the table: the route, or the methods the path allows (for 405), or nothing (404). */
export function matchRoute(method: string, segments: string[]): RouteMatch | { allowed: string[] } | null {
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const params = matchPath(route.path, segments);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { allowed } : null;
}

function matchPath(template: string, segments: string[]): Record<string, string> | null {
  const parts = template.slice(1).split('/');
  if (parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (part.startsWith('{') && part.endsWith('}')) {
      if (segments[i] === '') return null;
      params[part.slice(1, -1)] = segments[i];
    } else if (part !== segments[i]) {
      return null;
    }
  }
  return params;
}
