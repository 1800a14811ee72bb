/** GET /v1/jobs/{id}/events: the job's events as server-sent events, replayed state first. */
import { BASE_HEADERS } from '../http.ts';
import { TERMINAL_EVENTS, type JobEvent } from '../protocol.ts';
import { parseOrThrow } from '../schemas.ts';
import { requireJob, type Handler, type Services } from './context.ts';

export function eventsHandler(services: Services): Handler {
  const { queue, schemas, streams } = services;
  return async (ctx) => {
    parseOrThrow(schemas.tokenQuery, ctx.query, 'query');
    const job = requireJob(queue, ctx.params.id);
    const { req, res } = ctx;
    if (req.headers['last-event-id'] === 'end' && job.position === null) {
      res.writeHead(204, { ...BASE_HEADERS, ...ctx.headers });
      res.end();
      return;
    }
    res.writeHead(200, {
      ...BASE_HEADERS,
      ...ctx.headers,
      'Content-Type': 'text/event-stream; charset=utf-8',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    // after end() the response may take long to flush to a client that reads slowly (or never):
    // nothing may be written then, so every write checks, and ending stops the heartbeat first
    const write = (chunk: string) => {
      if (!res.writableEnded && !res.destroyed) res.write(chunk);
    };
    let unsubscribe: () => void = () => {};
    const heartbeat = setInterval(() => write(': ping\n\n'), services.heartbeatMs);
    heartbeat.unref();
    const stop = () => {
      clearInterval(heartbeat);
      unsubscribe();
    };
    const end = () => {
      stop();
      if (!res.writableEnded && !res.destroyed) res.end();
    };
    const cleanup = () => {
      stop();
      streams.delete(res);
      // the client went away (its half-open socket would otherwise linger): drop the connection
      if (!res.writableEnded) res.destroy();
    };
    res.on('close', cleanup); // client went away, or the ended stream was flushed
    res.on('error', cleanup);
    write(': dype job events\n\n');
    streams.set(res, end);
    const send = (event: JobEvent) => {
      // a slow reader gets no more previews than it can take; state events are never dropped
      if (event.event === 'preview' && res.writableLength > 4 * 1024 * 1024) return;
      const terminal = TERMINAL_EVENTS.has(event.event);
      write(`${terminal ? 'id: end\n' : ''}data: ${JSON.stringify(event)}\n\n`);
      if (terminal) end();
    };
    unsubscribe = queue.subscribe(job.id, send);
    // unsubscribe now that it is assigned: the replay was terminal, or the client is already gone
    if (res.destroyed) cleanup();
    else if (res.writableEnded) end();
  };
}
