/**
 * The request envelope every route shares: Host check → Origin check (CORS) → route (404/405,
 * preflight) → token → handler, and one place where errors become answers: ApiErrors as they are,
 * the queue's domain errors mapped to statuses, a client that hung up dropped quietly, anything
 * else logged as an internal error.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ApiError } from '../errors.ts';
import { BASE_HEADERS, ClientGoneError, parseTarget, sendError } from '../http.ts';
import { QueueError } from '../queue.ts';
import { matchRoute, routeErrors, type OperationId, type Route } from '../routes.ts';
import { bearerToken, hostAllowed, originAllowed, safeEqual } from '../security.ts';
import type { Handler } from './context.ts';

const PREFLIGHT_HEADERS = 'Authorization, Content-Type, Last-Event-ID';
/** How the log line about an error missing from a route's list (routes.ts) starts. */
export const UNDECLARED_ERROR = 'undeclared error';

export interface EnvelopeOptions {
  handlers: Record<OperationId, Handler>;
  token: string;
  /** Host headers that name this server (known once it listens). */
  allowedHosts: () => ReadonlySet<string>;
  /** Origins allowed besides "null" and none. */
  extraOrigins: ReadonlySet<string>;
  closing: () => boolean;
  log: (message: string) => void;
}

export function createEnvelope(options: EnvelopeOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { handlers, log } = options;

  function authorize(req: IncomingMessage, query: Record<string, string>, queryAllowed: boolean): void {
    const given = bearerToken(req.headers.authorization) ?? (queryAllowed ? query.token : undefined);
    if (given === undefined || given === null || !safeEqual(given, options.token)) {
      throw new ApiError('unauthorized', undefined, { headers: { 'WWW-Authenticate': 'Bearer realm="dype"' } });
    }
  }

  return async function handle(req, res) {
    let headers: Record<string, string> = {};
    let route: Route | undefined;
    try {
      const allowedHosts = options.allowedHosts();
      if (!hostAllowed(req.headers.host, allowedHosts)) {
        throw new ApiError('bad_host', `Host ${JSON.stringify(req.headers.host ?? '').slice(0, 80)} is not allowed; use ${[...allowedHosts].join(' or ')}.`);
      }
      const origin = req.headers.origin;
      if (!originAllowed(origin, options.extraOrigins)) throw new ApiError('bad_origin', `Origin ${JSON.stringify(origin).slice(0, 80)} is not allowed.`);
      headers = corsHeaders(origin);
      if (options.closing()) throw new ApiError('shutting_down');

      const target = parseTarget(req.url);
      const method = req.method ?? 'GET';
      const match = matchRoute(method, target.segments);
      if (!match) throw new ApiError('not_found', `No route ${method} ${target.segments.length ? '/' + target.segments.join('/') : '/'}.`.slice(0, 200));
      if ('allowed' in match) {
        if (method === 'OPTIONS') {
          preflight(req, res, match.allowed, headers);
          return;
        }
        throw new ApiError('method_not_allowed', `${method} is not allowed here; use ${match.allowed.join(' or ')}.`.slice(0, 200), {
          headers: { Allow: [...match.allowed, 'OPTIONS'].join(', ') },
        });
      }
      route = match.route;
      if (match.route.auth !== 'none') authorize(req, target.query, match.route.auth === 'token-or-query');
      await handlers[match.route.operationId]({ req, res, route: match.route, params: match.params, query: target.query, headers });
    } catch (error) {
      if (error instanceof ClientGoneError) {
        res.destroy();
        return;
      }
      const apiError = error instanceof ApiError ? error : error instanceof QueueError ? fromQueueError(error) : internal(error, log);
      // the OpenAPI document lists each route's errors from the same table: say when an answer is missing from it
      if (route && !routeErrors(route).has(apiError.code)) log(`${UNDECLARED_ERROR} ${apiError.code} (${apiError.status}) answered by ${route.operationId}`);
      try {
        if (res.headersSent) res.destroy();
        else sendError(res, apiError, headers);
      } catch {
        res.destroy();
      }
    }
  };
}

/** The queue's refusals as HTTP answers: the contract's error table gives each code its status. */
function fromQueueError(error: QueueError): ApiError {
  const headers: Record<string, string> = error.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(error.retryAfterSeconds) };
  return new ApiError(error.code, error.message, { field: error.field, headers });
}

function internal(error: unknown, log: (message: string) => void): ApiError {
  log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return new ApiError('internal_error');
}

function corsHeaders(origin: string | undefined): Record<string, string> {
  if (origin === undefined) return {};
  return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': 'Location, Retry-After', Vary: 'Origin' };
}

function preflight(req: IncomingMessage, res: ServerResponse, allowed: string[], headers: Record<string, string>): void {
  const extra: Record<string, string> = {};
  if (req.headers['access-control-request-private-network'] === 'true') extra['Access-Control-Allow-Private-Network'] = 'true';
  res.writeHead(204, {
    ...BASE_HEADERS,
    ...headers,
    ...extra,
    'Access-Control-Allow-Methods': [...allowed, 'OPTIONS'].join(', '),
    'Access-Control-Allow-Headers': PREFLIGHT_HEADERS,
    'Access-Control-Max-Age': '600',
  });
  res.end();
}

/** Answers what node's parser rejects (malformed, or too slow: 408) in the same error shape, on the raw socket. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const apiError =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new ApiError('request_timeout', 'The request did not arrive in time.')
      : new ApiError('bad_request', `The HTTP request is malformed (${error.code ?? 'parse error'}).`);
  const body = JSON.stringify(apiError.toBody());
  socket.end(`HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
