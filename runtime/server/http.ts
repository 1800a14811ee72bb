/** Small node:http helpers: request targets, bounded JSON bodies, bodies streamed to files, JSON and error responses. */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { ApiError } from './errors.ts';

export interface Target {
  /** Percent-decoded path segments, without the leading empty one. */
  segments: string[];
  /** Query parameters; a repeated one is an error. */
  query: Record<string, string>;
}

/** Splits `req.url` by hand: `new URL()` would read "//x/y" as a host. */
export function parseTarget(raw: string | undefined): Target {
  const url = raw ?? '';
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  if (!path.startsWith('/')) throw new ApiError('not_found');
  let segments: string[];
  try {
    segments = path.slice(1).split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw new ApiError('not_found', 'The path is not valid percent-encoding.');
  }
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  if (q >= 0) {
    let params: URLSearchParams;
    try {
      params = new URLSearchParams(url.slice(q + 1));
    } catch {
      throw new ApiError('invalid_field', 'The query string is malformed.');
    }
    for (const [key, value] of params) {
      if (key in query) throw new ApiError('invalid_field', `Query parameter ${key} is given more than once.`, { field: key });
      query[key] = value;
    }
  }
  return { segments, query };
}

export interface BodyLimits {
  /** Largest body that is parsed. */
  maxBytes: number;
  /** Past maxBytes the rest is read and dropped up to this many bytes, so the client can read our 413; beyond it the connection is closed. */
  drainBytes: number;
  /** The longest the whole body may take to arrive; a slower one gets 408 and its connection closed. */
  timeoutMs: number;
}

/** The client went away before its body arrived: there is nobody to answer, and nothing to report. */
export class ClientGoneError extends Error {
  constructor() {
    super('The client closed the connection before its request body arrived.');
    this.name = 'ClientGoneError';
  }
}

const JSON_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Reads a JSON body. Returns undefined when there is none. Checks the Content-Type before reading
 * and the size while reading: nothing past `maxBytes` is kept in memory.
 */
export async function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const type = req.headers['content-type'];
  if (type === undefined || !JSON_TYPE.test(type.trim())) {
    throw new ApiError('unsupported_media_type', `The body must be JSON (Content-Type: application/json), not ${type === undefined ? 'untyped' : JSON.stringify(type)}.`);
  }
  const tooLarge = (close: boolean) =>
    new ApiError('body_too_large', `The body is larger than ${limits.maxBytes} bytes.`, { headers: close ? { Connection: 'close' } : {} });
  const bytes = await readBody(req, limits, tooLarge);
  if (bytes.length === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError('invalid_json', 'The body is not valid UTF-8.');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const detail = error instanceof SyntaxError ? `: ${error.message}` : '';
    throw new ApiError('invalid_json', `The body is not valid JSON${detail}.`);
  }
}

/**
 * Reads a whole body within `limits`: nothing past `maxBytes` is kept in memory; a body past it gets
 * `tooLarge(close)`, after draining up to `drainBytes` (close = false) or at once (close = true).
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits, tooLarge: (close: boolean) => ApiError): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.drainBytes) throw tooLarge(true);

  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.drainBytes) {
        cleanup();
        reject(tooLarge(true));
      } else if (size <= limits.maxBytes) {
        chunks.push(chunk);
      } else {
        chunks.length = 0;
      }
    };
    const onEnd = () => {
      cleanup();
      if (size > limits.maxBytes) reject(tooLarge(false));
      else resolve(Buffer.concat(chunks, size));
    };
    // node reports a hang-up mid-body as an "aborted" ECONNRESET error, or only as close
    const onError = (error: NodeJS.ErrnoException) => {
      cleanup();
      reject(error.code === 'ECONNRESET' ? new ClientGoneError() : error);
    };
    const onClose = () => {
      cleanup();
      reject(new ClientGoneError());
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new ApiError('request_timeout', `The body did not arrive within ${limits.timeoutMs / 1000} s.`, { headers: { Connection: 'close' } }));
    }, limits.timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Streams `source` into a new file at `path` (0600), at most `maxBytes` of it, with backpressure, so a
 * large body never sits in memory. Resolves with its size once the file is closed. On any failure
 * (`tooLarge()` past the limit, `stop` aborted with its reason, a write error) the file is removed,
 * `source` is unpiped and left flowing (its rest is dropped) and the promise rejects.
 */
export function receiveToFile(source: Readable, path: string, maxBytes: number, tooLarge: () => Error, stop?: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let size = 0;
    let settled = false;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > maxBytes) done(tooLarge());
        else done(null, chunk);
      },
    });
    const file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      stop?.removeEventListener('abort', onStop);
      source.unpipe(counter);
      source.resume();
      counter.destroy();
      file.destroy();
      void rm(path, { force: true }).finally(() => reject(error));
    };
    const onStop = () => fail(stop!.reason);
    if (stop?.aborted) return onStop();
    stop?.addEventListener('abort', onStop, { once: true });
    counter.on('error', fail);
    file.on('error', fail);
    file.on('close', () => {
      if (settled) return;
      settled = true;
      stop?.removeEventListener('abort', onStop);
      resolve(size);
    });
    source.pipe(counter).pipe(file);
  });
}

/**
 * An image body into a file at `path` within `limits` (413 `payload_too_large` past maxBytes, 408
 * past timeoutMs, ClientGoneError when the client hangs up). Every error closes the connection:
 * node would otherwise go on reading a body nobody wants.
 */
export async function receiveBody(req: IncomingMessage, path: string, limits: BodyLimits): Promise<number> {
  const tooLarge = () => new ApiError('payload_too_large', `The image is larger than the upload limit of ${limits.maxBytes} bytes.`, { headers: { Connection: 'close' } });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw tooLarge();
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new ApiError('request_timeout', `The body did not arrive within ${limits.timeoutMs / 1000} s.`, { headers: { Connection: 'close' } })), limits.timeoutMs);
  // node reports a hang-up mid-body as an "aborted" error, or only as close
  const onGone = () => !req.complete && stop.abort(new ClientGoneError());
  req.on('close', onGone);
  req.on('error', onGone);
  try {
    return await receiveToFile(req, path, limits.maxBytes, tooLarge, stop.signal);
  } finally {
    clearTimeout(timer);
    req.off('close', onGone);
    req.off('error', onGone);
  }
}

/** Headers on every response. */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...BASE_HEADERS, ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, error: ApiError, headers: Record<string, string> = {}): void {
  sendJson(res, error.status, error.toBody(), { ...headers, ...error.headers });
}
