/** POST /v1/pair: the printed code for the token, with wrong codes rate limited. */
import { ApiError } from '../errors.ts';
import { sendJson } from '../http.ts';
import { pairingCodeMatches } from '../pairing.ts';
import { parseOrThrow } from '../schemas.ts';
import { requireBody, type Handler, type Services } from './context.ts';

export function pairHandler(services: Services): Handler {
  const { pairing, schemas } = services;
  return async (ctx) => {
    parseOrThrow(schemas.emptyQuery, ctx.query, 'query');
    const body = parseOrThrow(schemas.pair, await requireBody(ctx.req, services.bodyLimits), 'body');
    // taken once the body is here and compared in the same tick, so only compared codes count and
    // concurrent requests cannot all pass the check; a body that never comes takes nothing
    const attempt = pairing.reserve();
    if (!attempt) {
      const wait = pairing.retryAfterSeconds();
      throw new ApiError('too_many_attempts', `Too many wrong pairing codes; try again in ${wait} s.`, { headers: { 'Retry-After': String(wait) } });
    }
    if (!pairingCodeMatches(body.code, services.pairingCode)) {
      throw new ApiError('pairing_failed', 'Wrong pairing code: use the code the companion printed when it started.', { field: 'code' });
    }
    attempt.release(); // only wrong codes use up the budget
    sendJson(ctx.res, 200, { token: services.token }, ctx.headers);
  };
}
