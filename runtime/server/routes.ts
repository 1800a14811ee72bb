/** The route table: one list that the router, the token check and the OpenAPI document all read. */

export type Auth = 'none' | 'token' | 'token-or-query';

export interface RouteSpec {
  method: 'GET' | 'POST';
  /** OpenAPI path template; `{name}` matches one path segment. */
  path: string;
  operationId: string;
  /** 'token-or-query': also accepts `?token=`, for EventSource and <img>, which cannot send headers. */
  auth: Auth;
}

export const ROUTES = [
  { method: 'GET', path: '/v1/health', operationId: 'getHealth', auth: 'none' },
  { method: 'GET', path: '/openapi.json', operationId: 'getOpenApi', auth: 'none' },
  { method: 'POST', path: '/v1/pair', operationId: 'pair', auth: 'none' },
  { method: 'POST', path: '/v1/uploads', operationId: 'createUpload', auth: 'token' },
  { method: 'POST', path: '/v1/jobs', operationId: 'createJob', auth: 'token' },
  { method: 'GET', path: '/v1/jobs', operationId: 'listJobs', auth: 'token' },
  { method: 'GET', path: '/v1/jobs/{id}', operationId: 'getJob', auth: 'token' },
  { method: 'GET', path: '/v1/jobs/{id}/events', operationId: 'streamJobEvents', auth: 'token-or-query' },
  { method: 'POST', path: '/v1/jobs/{id}/cancel', operationId: 'cancelJob', auth: 'token' },
  { method: 'GET', path: '/v1/jobs/{id}/image', operationId: 'getJobImage', auth: 'token-or-query' },
  { method: 'POST', path: '/v1/images/generations', operationId: 'createImage', auth: 'token' },
  { method: 'POST', path: '/v1/images/edits', operationId: 'editImage', auth: 'token' },
  { method: 'GET', path: '/v1/models', operationId: 'listModels', auth: 'token' },
  { method: 'GET', path: '/v1/models/pulls', operationId: 'listModelPulls', auth: 'token' },
  { method: 'POST', path: '/v1/models/pulls', operationId: 'createModelPull', auth: 'token' },
  { method: 'GET', path: '/v1/models/pulls/{id}', operationId: 'getModelPull', auth: 'token' },
  { method: 'GET', path: '/v1/models/pulls/{id}/events', operationId: 'streamModelPullEvents', auth: 'token-or-query' },
  { method: 'POST', path: '/v1/models/pulls/{id}/cancel', operationId: 'cancelModelPull', auth: 'token' },
  { method: 'POST', path: '/v1/models/active', operationId: 'setActiveModel', auth: 'token' },
] as const satisfies readonly RouteSpec[];

export type Route = (typeof ROUTES)[number];
export type OperationId = Route['operationId'];

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
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
