/** GET /v1/jobs/{id}/events: the job's events as server-sent events, replayed state first. */
import { BASE_HEADERS } from '../http.ts';
import { TERMINAL_EVENTS, type JobEvent } from '../protocol.ts';
import { parseOrThrow } from '../schemas.ts';
import { requireJob, type Handler, type Services } from './context.ts';
import { openEventStream } from './sse.ts';

export function eventsHandler(services: Services): Handler {
  const { queue, schemas } = services;
  return async (ctx) => {
    parseOrThrow(schemas.tokenQuery, ctx.query, 'query');
    const job = requireJob(queue, ctx.params.id);
    const { req, res } = ctx;
    if (req.headers['last-event-id'] === 'end' && job.position === null) {
      res.writeHead(204, { ...BASE_HEADERS, ...ctx.headers });
      res.end();
      return;
    }
    openEventStream<JobEvent>(services, ctx, {
      comment: 'dype job events',
      subscribe: (send) => queue.subscribe(job.id, send),
      encode: (event) => ({ data: JSON.stringify(event), terminal: TERMINAL_EVENTS.has(event.event), droppable: event.event === 'preview' }),
    });
  };
}
