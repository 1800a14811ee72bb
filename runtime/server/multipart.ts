/** multipart/form-data bodies (POST /v1/images/edits), parsed with @fastify/busboy within limits, files streamed to disk. */
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Busboy } from '@fastify/busboy';
import { ApiError, type ErrorCode } from './errors.ts';
import { ClientGoneError, receiveToFile, type BodyLimits } from './http.ts';

export interface ReceivedFile {
  path: string;
  bytes: number;
}

export interface MultipartBody {
  fields: Record<string, string>;
  /** Each file part, in a file the caller owns (and removes) from then on. */
  files: Record<string, ReceivedFile>;
}

export interface MultipartRules {
  /** Names allowed as files; any other file part is an error. */
  files: readonly string[];
  /** A new path for each file part's bytes. */
  filePath: () => string;
  /** Text fields of at most this many bytes each. */
  maxFieldBytes: number;
  /** `maxBytes` per file; `timeoutMs` for the whole body. */
  limits: BodyLimits;
}

/**
 * Every error here closes the connection: otherwise node would go on reading the rest of a body (up to
 * the upload limit per file) that nothing wants any more.
 */
const closingError = (code: ErrorCode, message: string, field?: string) => new ApiError(code, message, { field, headers: { Connection: 'close' } });
const multipartError = (message: string) => closingError('invalid_multipart', message);

/**
 * Reads the whole body: each file into a file of its own up to the file limit (413 payload_too_large
 * past it), text fields up to `maxFieldBytes`. A name given twice, an unknown file, a malformed body or
 * one that ends early is 400 invalid_multipart. On any error no file is left behind.
 */
export function readMultipart(req: IncomingMessage, rules: MultipartRules): Promise<MultipartBody> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\s*(;|$)/i.test(type)) {
    return Promise.reject(closingError('unsupported_media_type', `The body must be multipart/form-data with a boundary, not ${JSON.stringify(type || 'untyped').slice(0, 80)}.`));
  }
  return new Promise<MultipartBody>((resolve, reject) => {
    const body: MultipartBody = { fields: Object.create(null) as Record<string, string>, files: Object.create(null) as Record<string, ReceivedFile> };
    let settled = false;
    const stopFiles = new AbortController();
    const written: string[] = [];
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.unpipe();
      req.resume(); // drop the rest; the answer closes the connection
      stopFiles.abort(error);
      void Promise.all(written.map((path) => rm(path, { force: true }))).finally(() => reject(error));
    };
    const timer = setTimeout(() => fail(closingError('request_timeout', `The body did not arrive within ${rules.limits.timeoutMs / 1000} s.`)), rules.limits.timeoutMs);
    const seen = new Set<string>();
    const claim = (name: string) => {
      if (seen.has(name)) throw multipartError(`The part "${name.slice(0, 40)}" is given more than once.`);
      seen.add(name);
    };

    let parser: ReturnType<typeof Busboy>;
    try {
      parser = Busboy({
        headers: { ...req.headers, 'content-type': type },
        limits: { fileSize: rules.limits.maxBytes, files: rules.files.length, fields: 16, fieldSize: rules.maxFieldBytes, parts: 16 + rules.files.length, fieldNameSize: 100 },
      });
    } catch (error) {
      fail(multipartError(`The multipart body cannot be read: ${(error as Error).message}.`));
      return;
    }
    const pending: Promise<void>[] = [];
    parser.on('file', (name, stream) => {
      try {
        claim(name);
        if (!rules.files.includes(name)) throw multipartError(`Unknown file part "${name.slice(0, 40)}"; this route takes ${rules.files.join(', ')}.`);
      } catch (error) {
        stream.resume();
        fail(error as Error);
        return;
      }
      const tooLarge = () => closingError('payload_too_large', `The file "${name}" is larger than the upload limit of ${rules.limits.maxBytes} bytes.`);
      stream.on('error', (error: Error) => fail(multipartError(`The file "${name}" is malformed: ${error.message}.`)));
      stream.on('limit', () => fail(tooLarge()));
      const path = rules.filePath();
      written.push(path);
      pending.push(
        receiveToFile(stream, path, rules.limits.maxBytes, tooLarge, stopFiles.signal).then(
          (bytes) => void (body.files[name] = { path, bytes }),
          (error: unknown) => fail(error as Error),
        ),
      );
    });
    parser.on('field', (name, value, _nameTruncated, valueTruncated) => {
      try {
        claim(name);
        if (valueTruncated) throw closingError('invalid_field', `${name.slice(0, 40)} is longer than ${rules.maxFieldBytes} bytes.`, name);
        body.fields[name] = value;
      } catch (error) {
        fail(error as Error);
      }
    });
    for (const limit of ['partsLimit', 'filesLimit', 'fieldsLimit'] as const) parser.on(limit, () => fail(multipartError('The multipart body has more parts than this route takes.')));
    parser.on('error', (error) => fail(multipartError(`The multipart body is malformed: ${error instanceof Error ? error.message : String(error)}.`)));
    parser.on('finish', () => {
      void Promise.all(pending).then(() => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(body);
      });
    });
    req.on('aborted', () => fail(new ClientGoneError()));
    req.pipe(parser);
  });
}
