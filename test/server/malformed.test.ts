/**
 * Hundreds of generated bad requests: each must get a 4xx with a stable code and a message, nothing
 * may be queued, and the server must still answer health afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS } from '../../runtime/server/errors.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { startCompanion, TOKEN, type Harness } from './helpers/companion.ts';

interface Case {
  name: string;
  method?: string;
  path?: string;
  /** Objects are sent as JSON; strings and buffers as they are. */
  body?: unknown;
  headers?: Record<string, string>;
  status?: number;
  code?: string;
  field?: string;
}

const valid = { prompt: 'a quiet harbour', width: 256, height: 256, seed: 3, steps: 4, guidance: 3.5, method: 'dy-yarn', format: 'png' };

const badValues: Record<string, unknown[]> = {
  prompt: [null, 1, true, {}, [], ['a'], '', '   ', '\n\t', 'x'.repeat(2001), '😀'.repeat(2001), ' '.repeat(3000), 0],
  width: [null, '256', true, {}, [], -1, 0, 63, 1025, 64.5, 1e9, -1e308, 1e308, 2 ** 53 + 2, '1e3', -64, false],
  height: [null, '256', true, {}, [], -1, 0, 63, 1025, 100.25, 4294967296, -0.5],
  seed: [-1, 2 ** 32, 1.5, '1', null, 1e20, true, [], {}, -1e-9],
  steps: [0, 101, -5, 2.5, '10', null, 1e6, true, []],
  guidance: [-0.1, 30.01, '3', null, true, 1e10, [], {}],
  method: ['DY-YARN', '', 'yarn2', 5, null, ['yarn'], {}, 'dype', ' yarn'],
  format: ['jpeg', 'PNG', 'gif', '', 1, null, 'webp', ['png']],
  dypeScale: [-0.1, 8.01, '2', null, true, [], {}, 1e9],
  yarnScaling: ['ISOTROPIC', 'square', '', 1, null, ['isotropic']],
  dypeExponent: ['AUTO', 'fast', '', '2', -1, 8.5, null, true, [], {}, ['auto']],
  id: ['', '../etc', 'a/b', 'a'.repeat(65), '-start', '_start', 'é', 5, null, 'a b', 'a.b', '..', 'con\u0000', {}, 'Foo', 'ABC', 'con', 'CON', 'nul', 'aux', 'prn', 'com1', 'LPT9'],
};

function jobCases(): Case[] {
  const cases: Case[] = [];
  for (const [field, values] of Object.entries(badValues)) {
    for (const value of values) {
      cases.push({ name: `job ${field}=${JSON.stringify(value)?.slice(0, 30)}`, body: { ...valid, [field]: value }, status: 400, field });
    }
  }
  for (const field of ['prompt']) {
    const { [field as 'prompt']: _omit, ...rest } = valid;
    cases.push({ name: `job without ${field}`, body: rest, status: 400, code: 'missing_field', field });
  }
  for (const [key, value] of [['extra', 1], ['Prompt', 'x'], ['constructor', {}], ['width ', 64], ['n', 1], ['size', '64x64'], ['token', TOKEN]] as const) {
    cases.push({ name: `job unknown field ${key}`, body: { ...valid, [key]: value }, status: 400, code: 'unknown_field' });
  }
  cases.push({ name: 'job __proto__ field', body: `{"prompt":"a","__proto__":{"admin":true}}`, headers: json, status: 400, code: 'unknown_field' });
  for (const [w, h] of [[1024, 1024], [1024, 769], [1000, 1000]]) {
    cases.push({ name: `job ${w}x${h} over the pixel budget`, body: { ...valid, width: w, height: h }, status: 400, code: 'image_too_large', field: 'width' });
  }
  for (const body of ['[]', 'null', '"string"', '123', 'true', '{}', '[{"prompt":"a"}]', '0']) {
    cases.push({ name: `job body ${body}`, body, headers: json, status: 400 });
  }
  return cases;
}

const json = { 'Content-Type': 'application/json' };

function rawBodyCases(): Case[] {
  const bodies: Array<[string, string | Buffer]> = [
    ['truncated object', '{"prompt": "a'],
    ['truncated after colon', '{"prompt":'],
    ['single quotes', "{'prompt': 'a'}"],
    ['bare keys', '{prompt: "a"}'],
    ['trailing comma', '{"prompt":"a",}'],
    ['extra brace', '{"prompt":"a"}}'],
    ['two objects', '{"prompt":"a"}{"prompt":"b"}'],
    ['NaN', '{"prompt":"a","width":NaN}'],
    ['Infinity', '{"prompt":"a","width":Infinity}'],
    ['comment', '{"prompt":"a" /* c */}'],
    ['lone quote', '"'],
    ['lone brace', '{'],
    ['garbage', 'hello world'],
    ['two BOMs', '\ufeff\ufeff{"prompt":"a"}'],
    ['invalid utf-8', Buffer.from([0x7b, 0x22, 0x70, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ['nul bytes', Buffer.alloc(64)],
    ['deep nesting', '['.repeat(30000) + ']'.repeat(30000)],
    ['deep objects', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)],
    ['whitespace only', '   \n  '],
    ['hex number', '{"prompt":"a","width":0x100}'],
    ['leading zero', '{"prompt":"a","width":0256}'],
    ['unterminated escape', '{"prompt":"a\\'],
    ['bad escape', '{"prompt":"\\x41"}'],
    ['control char in string', '{"prompt":"a\u0001b"}'],
  ];
  return bodies.map(([name, body]) => ({ name: `raw body: ${name}`, body, headers: json, status: 400 }));
}

function contentTypeCases(): Case[] {
  const body = JSON.stringify(valid);
  const types = [
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonp',
    'application/json; charset=latin1',
    'application/json, text/plain',
    'application/xml',
    'json',
    '',
    'image/png',
  ];
  const cases: Case[] = types.map((type) => ({ name: `content-type ${JSON.stringify(type)}`, body, headers: { 'Content-Type': type }, status: 415, code: 'unsupported_media_type' }));
  cases.push({ name: 'no content-type', body: Buffer.from(body), status: 415, code: 'unsupported_media_type' });
  for (const path of ['/v1/images/generations', '/v1/pair', '/v1/jobs/x/cancel']) {
    cases.push({ name: `${path} text/plain`, path, body: '{}', headers: { 'Content-Type': 'text/plain' }, status: 415, code: 'unsupported_media_type' });
  }
  return cases;
}

function sizeCases(): Case[] {
  return [
    { name: '1 MB prompt', body: { ...valid, prompt: 'x'.repeat(1024 * 1024) }, status: 413, code: 'body_too_large' },
    { name: '1 MB unicode prompt', body: { ...valid, prompt: 'ü€😀'.repeat(100_000) }, status: 413, code: 'body_too_large' },
    { name: '65 kB of whitespace', body: ' '.repeat(65 * 1024) + '{}', headers: json, status: 413, code: 'body_too_large' },
    { name: '100 kB unknown field', body: { ...valid, pad: 'p'.repeat(100_000) }, status: 413, code: 'body_too_large' },
    { name: 'openai 1 MB prompt', path: '/v1/images/generations', body: { prompt: 'x'.repeat(1024 * 1024) }, status: 413, code: 'body_too_large' },
    { name: 'pair 200 kB', path: '/v1/pair', body: { code: 'x'.repeat(200_000) }, status: 413, code: 'body_too_large' },
    { name: '2001 astral characters are over the limit', body: { ...valid, prompt: '𝔸'.repeat(2001) }, status: 400, field: 'prompt' },
    { name: 'empty body', body: '', headers: json, status: 400, code: 'invalid_json' },
  ];
}

function queryAndPathCases(): Case[] {
  const get = (path: string, status: number, code?: string): Case => ({ name: `GET ${path}`, method: 'GET', path, status, code });
  return [
    ...['0', '201', 'abc', '-1', '1.5', '', '1e3', ' 5', '5 ', '0x10', '99999999999'].map((v) => get(`/v1/jobs?limit=${encodeURIComponent(v)}`, 400, 'invalid_field')),
    get('/v1/jobs?limit=1&limit=2', 400, 'invalid_field'),
    get('/v1/jobs?foo=bar', 400, 'unknown_field'),
    get('/v1/jobs?token=abc', 400, 'unknown_field'),
    get('/v1/jobs/abc?x=1', 400, 'unknown_field'),
    get('/v1/health?verbose=1', 400, 'unknown_field'),
    get('/openapi.json?x', 400, 'unknown_field'),
    get('/v1/jobs/abc/events?limit=3', 400, 'unknown_field'),
    get('/v1/jobs/..%2F..%2Fetc%2Fpasswd', 400, 'invalid_job_id'),
    get('/v1/jobs/..%2F..%2Fetc%2Fpasswd/image', 400, 'invalid_job_id'),
    get('/v1/jobs/a%00b', 400, 'invalid_job_id'),
    get(`/v1/jobs/${'a'.repeat(65)}`, 400, 'invalid_job_id'),
    get('/v1/jobs/%E2%82%AC', 400, 'invalid_job_id'),
    get('/v1/jobs/Foo', 400, 'invalid_job_id'),
    get('/v1/jobs/nul', 400, 'invalid_job_id'),
    get('/v1/jobs/COM1/image', 400, 'invalid_job_id'),
    get('/v1/jobs/%ZZ', 404, 'not_found'),
    get('/v1/jobs/no-such-job', 404, 'job_not_found'),
    get('/v1/jobs/no-such-job/image', 404, 'job_not_found'),
    get('/v1/jobs/no-such-job/events', 404, 'job_not_found'),
    { name: 'cancel unknown job', method: 'POST', path: '/v1/jobs/no-such-job/cancel', status: 404, code: 'job_not_found' },
    { name: 'cancel bad id', method: 'POST', path: '/v1/jobs/a.b/cancel', status: 400, code: 'invalid_job_id' },
    { name: 'cancel with body fields', method: 'POST', path: '/v1/jobs/no-such-job/cancel', body: { force: true }, status: 400, code: 'unknown_field' },
    ...['/', '/v2/jobs', '/v1/jobs/x/y/z', '/v1/health/', '/V1/HEALTH', '/v1', '/v1/jobs//image', '/v1/images', '/favicon.ico', '/v1/jobs/x/image/', '//v1/health'].map((p) => get(p, 404, 'not_found')),
    ...([
      ['DELETE', '/v1/jobs'],
      ['PUT', '/v1/jobs/x'],
      ['DELETE', '/v1/jobs/x'],
      ['GET', '/v1/pair'],
      ['GET', '/v1/images/generations'],
      ['POST', '/v1/health'],
      ['PATCH', '/v1/jobs'],
      ['GET', '/v1/jobs/x/cancel'],
      ['POST', '/v1/jobs/x/image'],
      ['POST', '/openapi.json'],
      ['HEAD', '/v1/jobs'],
    ] as const).map(([method, path]): Case => ({ name: `${method} ${path}`, method, path, status: 405, code: 'method_not_allowed' })),
  ];
}

function openAiCases(): Case[] {
  const path = '/v1/images/generations';
  const bodies: Array<[unknown, string]> = [
    [{}, 'missing_field'],
    [{ prompt: 'a', n: 1.5 }, 'invalid_field'],
    [{ prompt: 'a', n: '2' }, 'invalid_field'],
    [{ prompt: 'a', size: 'axb' }, 'invalid_field'],
    [{ prompt: 'a', size: '64x64x64' }, 'invalid_field'],
    [{ prompt: 'a', size: '-64x64' }, 'invalid_field'],
    [{ prompt: 'a', size: '64X64' }, 'invalid_field'],
    [{ prompt: 'a', size: 64 }, 'invalid_field'],
    [{ prompt: 'a', size: '999999x999999' }, 'invalid_field'],
    [{ prompt: 'a', response_format: 'url' }, 'unsupported_response_format'],
    [{ prompt: 'a', response_format: 5 }, 'invalid_field'],
    [{ prompt: 'a', seed: -1 }, 'invalid_field'],
    [{ prompt: 'a', steps: 0 }, 'invalid_field'],
    [{ prompt: 'a', model: 5 }, 'invalid_field'],
    [{ prompt: 'a', style: 'vivid' }, 'unknown_field'],
    [{ prompt: '' }, 'invalid_field'],
    [{ prompt: 'a', width: 64 }, 'unknown_field'],
  ];
  return bodies.map(([body, code]) => ({ name: `openai ${JSON.stringify(body)}`, path, body, status: 400, code }));
}

function pairCases(): Case[] {
  const path = '/v1/pair';
  return [
    { name: 'pair without body', path, body: '', headers: json, status: 400, code: 'invalid_json' },
    { name: 'pair {}', path, body: {}, status: 400, code: 'missing_field', field: 'code' },
    { name: 'pair code number', path, body: { code: 12345678 }, status: 400, code: 'invalid_field' },
    { name: 'pair code too long', path, body: { code: 'x'.repeat(33) }, status: 400, code: 'invalid_field' },
    { name: 'pair empty code', path, body: { code: '' }, status: 400, code: 'invalid_field' },
    { name: 'pair extra field', path, body: { code: 'ABCD', token: 'x' }, status: 400, code: 'unknown_field' },
  ];
}

const ALL: Case[] = [...jobCases(), ...rawBodyCases(), ...contentTypeCases(), ...sizeCases(), ...queryAndPathCases(), ...openAiCases(), ...pairCases()];

describe('malformed requests', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCompanion({ engine: new FakeEngine() });
  });
  afterAll(() => h.close());

  it(`has at least 200 cases (${ALL.length})`, () => {
    expect(ALL.length).toBeGreaterThanOrEqual(200);
  });

  it('answers every one with a 4xx, a known code and a message; queues nothing; stays healthy', async () => {
    const failures: string[] = [];
    const run = async (c: Case) => {
      const method = c.method ?? 'POST';
      const headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}`, ...c.headers };
      let body: string | Buffer | undefined;
      if (c.body !== undefined) {
        if (typeof c.body === 'string' || Buffer.isBuffer(c.body)) body = c.body;
        else {
          body = JSON.stringify(c.body);
          headers['Content-Type'] ??= 'application/json';
        }
      }
      const res = await fetch(h.url + (c.path ?? '/v1/jobs'), { method, headers, body });
      const text = await res.text();
      let parsed: any = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // checked below
      }
      const problems: string[] = [];
      if (res.status < 400 || res.status > 499) problems.push(`status ${res.status}`);
      if (c.status !== undefined && res.status !== c.status) problems.push(`status ${res.status} ≠ ${c.status}`);
      if (method !== 'HEAD') {
        const error = parsed?.error;
        if (!error || !(error.code in ERRORS)) problems.push(`no known code in ${text.slice(0, 120)}`);
        else {
          if (typeof error.message !== 'string' || error.message.length < 5) problems.push('no message');
          if (c.code !== undefined && error.code !== c.code) problems.push(`code ${error.code} ≠ ${c.code} (${error.message})`);
          if (c.field !== undefined && error.field !== c.field) problems.push(`field ${error.field} ≠ ${c.field} (${error.message})`);
        }
      }
      if (problems.length) failures.push(`${c.name}: ${problems.join('; ')}`);
    };
    const queue = [...ALL];
    await Promise.all(Array.from({ length: 6 }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await run(c);
    }));
    expect(failures).toEqual([]);

    const health = await fetch(`${h.url}/v1/health`);
    expect(health.status).toBe(200);
    expect(h.engine.calls).toEqual([]);
    expect((await h.api.get('/v1/jobs')).body.jobs).toEqual([]);
  });

  it('names the field and the rule in validation messages', async () => {
    const res = await h.api.post('/v1/jobs', { ...valid, width: 10 });
    expect(res.body.error).toEqual({ code: 'invalid_field', field: 'width', message: 'width must be an integer from 64 to 1024 (got 10).' });
    const missing = await h.api.post('/v1/jobs', { width: 64 });
    expect(missing.body.error).toMatchObject({ code: 'missing_field', field: 'prompt', message: expect.stringMatching(/^prompt is required/) });
    const unknown = await h.api.post('/v1/jobs', { ...valid, colour: 'red' });
    expect(unknown.body.error).toMatchObject({ code: 'unknown_field', field: 'colour', message: 'Unknown field "colour".' });
  });

  it('accepts only lowercase job ids that are no Windows device name, and says so', async () => {
    // ids name files: "Foo" and "foo" would be one file on macOS and Windows, "nul.json" none at all
    const upper = await h.api.post('/v1/jobs', { ...valid, id: 'My-Job' });
    expect(upper.status).toBe(400);
    expect(upper.body.error).toMatchObject({ code: 'invalid_field', field: 'id', message: expect.stringMatching(/^id must be lowercase.*"my-job"/) });
    const device = await h.api.post('/v1/jobs', { ...valid, id: 'nul' });
    expect(device.body.error).toMatchObject({ code: 'invalid_field', field: 'id', message: expect.stringContaining('Windows device name') });
    const path = await h.api.get('/v1/jobs/My-Job/image');
    expect(path.status).toBe(400);
    expect(path.body.error).toMatchObject({ code: 'invalid_job_id', message: expect.stringContaining('must be lowercase') });
    expect((await h.api.get('/v1/jobs/aux')).body.error.message).toContain('Windows device name');
  });

  it('answers requests the HTTP parser rejects in the same error shape', async () => {
    const { connect } = await import('node:net');
    for (const raw of ['GARBAGE\r\n\r\n', 'GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n', 'POST /v1/jobs HTTP/1.1\r\nContent-Length: -5\r\n\r\n']) {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(h.port, '127.0.0.1', () => socket.write(raw));
        let text = '';
        socket.on('data', (c) => (text += c.toString()));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
      expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error.code).toBe('bad_request');
    }
    expect((await fetch(`${h.url}/v1/health`)).status).toBe(200);
  });

  it('refuses a body whose declared length is huge without reading it', async () => {
    const { rawRequest } = await import('./helpers/companion.ts');
    const res = await rawRequest(h.port, {
      method: 'POST',
      path: '/v1/jobs',
      headers: { Host: `127.0.0.1:${h.port}`, Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'Content-Length': String(1 << 30) },
      body: '{"prompt":"a"',
    });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect((await fetch(`${h.url}/v1/health`)).status).toBe(200);
  });
});
