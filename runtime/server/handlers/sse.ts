/**
 * A server-sent-event stream on a response: headers, heartbeat, registration with the companion's open
 * streams (close() ends them), and cleanup when the client goes away. Job events and model-pull
 * events both go through it.
 */
import { BASE_HEADERS } from '../http.ts';
import type { Context, Services } from './context.ts';

export interface EventStream<E> {
  /** First line, a comment naming the stream. */
  comment: string;
  /** Registers the sender (replaying the current state first); returns the unsubscribe function. */
  subscribe: (send: (event: E) => void) => () => void;
  /** The event's data line; `terminal` ends the stream after it (with `id: end`); `droppable` events are skipped for a slow reader. */
  encode: (event: E) => { data: string; terminal: boolean; droppable?: boolean };
}

export function openEventStream<E>(services: Pick<Services, 'heartbeatMs' | 'streams'>, ctx: Context, stream: EventStream<E>): void {
  const { res } = ctx;
  const { streams } = services;
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
  write(`: ${stream.comment}\n\n`);
  streams.set(res, end);
  const send = (event: E) => {
    const { data, terminal, droppable } = stream.encode(event);
    // a slow reader gets no more droppable events (previews) than it can take; state events are never dropped
    if (droppable && res.writableLength > 4 * 1024 * 1024) return;
    write(`${terminal ? 'id: end\n' : ''}data: ${data}\n\n`);
    if (terminal) end();
  };
  unsubscribe = stream.subscribe(send);
  // unsubscribe now that it is assigned: the replay was terminal, or the client is already gone
  if (res.destroyed) cleanup();
  else if (res.writableEnded) end();
}
