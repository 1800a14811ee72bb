/** The OpenAPI document covers exactly the routes the server has, and is served without a token. */
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, HealthSchema, JobEventSchema, JobViewSchema } from '../../runtime/contract/index.ts';
import { routeErrors, ROUTES } from '../../runtime/server/routes.ts';
import { JOB_ID_PATTERN } from '../../runtime/server/schemas.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { startCompanion, TOKEN, type Harness } from './helpers/companion.ts';

describe('OpenAPI document', () => {
  let h: Harness;
  let doc: any;
  beforeAll(async () => {
    h = await startCompanion();
    const res = await fetch(`${h.url}/openapi.json`);
    expect(res.status).toBe(200);
    doc = await res.json();
  });
  afterAll(() => h.close());

  it('is OpenAPI 3.1 with the server version', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('0.0.0-test');
  });

  it('documents every route, and nothing else', () => {
    const documented = Object.entries(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`),
    );
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path} ${r.operationId}`).sort());
  });

  it('marks the token-free routes and lists the path parameter of the others', () => {
    for (const route of ROUTES) {
      const op = doc.paths[route.path][route.method.toLowerCase()];
      if (route.auth === 'none') expect(op.security).toEqual([]);
      else expect(op.security).toBeUndefined();
      if (route.path.includes('{id}')) expect(op.parameters.map((p: { name: string }) => p.name)).toContain('id');
      if (route.auth === 'token-or-query') expect(op.parameters.map((p: { name: string }) => p.name)).toContain('token');
    }
  });

  it('takes request body limits from the same schemas the server enforces', () => {
    const job = doc.paths['/v1/jobs'].post.requestBody.content['application/json'].schema;
    expect(job.additionalProperties).toBe(false);
    expect(job.required).toEqual(['prompt']);
    expect(job.properties.width).toMatchObject({ type: 'integer', minimum: 64, maximum: 1024 });
    expect(job.properties.steps).toMatchObject({ minimum: 1, maximum: 100 });
    expect(job.properties.method.enum).toContain('dy-yarn');
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toEqual(Object.keys(ERRORS));
  });

  it('takes the job id pattern of path and body from the constant the server checks', () => {
    const pathId = doc.paths['/v1/jobs/{id}'].get.parameters.find((p: { name: string }) => p.name === 'id');
    expect(pathId.schema.pattern).toBe(JOB_ID_PATTERN.source);
    expect(doc.paths['/v1/jobs'].post.requestBody.content['application/json'].schema.properties.id.pattern).toBe(JOB_ID_PATTERN.source);
    const pattern = new RegExp(pathId.schema.pattern);
    expect(['job-1', 'a', 'com10'].every((id) => pattern.test(id))).toBe(true);
    expect(['Job-1', 'con', 'nul', 'com1', 'lpt9'].some((id) => pattern.test(id))).toBe(false);
  });

  it('generates the response components from the contract, and the server answers in those shapes', async () => {
    const { components } = doc;
    expect(Object.keys(components.schemas.Job.properties)).toEqual(Object.keys(JobViewSchema.shape));
    expect(Object.keys(components.schemas.Health.properties)).toEqual(Object.keys(HealthSchema.shape));
    expect(components.schemas.JobEvent.oneOf.map((o: { properties: { event: { const: string } } }) => o.properties.event.const)).toEqual(
      JobEventSchema.options.map((o) => o.shape.event.value),
    );
    expect(HealthSchema.safeParse((await h.api.get('/v1/health')).body).success).toBe(true);
    const { job, events } = await h.api.run({ prompt: 'contract', width: 64, height: 64 });
    expect(JobViewSchema.safeParse(job).error).toBeUndefined();
    for (const event of events) expect(JobEventSchema.safeParse(event).error).toBeUndefined();
    expect(events.map((e) => e.event)).toContain('done');
  });

  it('documents how maxPixels is derived from memory', () => {
    expect(doc.components.schemas.Health.properties.maxPixels.description).toMatch(/total RAM − the companion's resident memory/);
  });

  it('states the upload rules in force, not the defaults', async () => {
    const custom = await startCompanion({ uploadLimit: 300_000, uploadRetentionMs: 90_000, uploadsMaxBytes: 5_000_000 });
    try {
      const text = (await custom.api.get('/openapi.json')).body.paths['/v1/uploads'].post.description as string;
      expect(text).toContain('At most 300000 bytes (293.0 KiB;');
      expect(text).toContain('deleted 90 s after its last use');
      expect(text).toContain('over 5000000 bytes (4.8 MiB)');
      expect(text).not.toMatch(/24 h|2 GiB|67108864/);
    } finally {
      await custom.close();
    }
  });

  it('declares every error each route can answer under its status', () => {
    for (const route of ROUTES) {
      const responses = doc.paths[route.path][route.method.toLowerCase()].responses as Record<string, { description: string }>;
      for (const code of routeErrors(route)) expect(responses[String(ERRORS[code].status)]?.description, `${route.operationId}: ${code}`).toContain(`${code}:`);
    }
  });

  it('declares the errors routes answer: init_not_found and init_not_ready on POST /v1/jobs, image_dimensions_too_large on edits', async () => {
    // (the harness also fails any test whose companion answers an error its route does not list)
    const engine = new FakeEngine({ stepMs: 1 });
    const held = await startCompanion({ engine });
    const release = engine.hold();
    try {
      const declared = (path: string, method: string, status: number, code: string) => {
        const description = doc.paths[path][method].responses[String(status)]?.description as string | undefined;
        expect(description, `${method} ${path} ${status}`).toContain(`${code}:`);
      };
      const missing = await held.api.post('/v1/jobs', { prompt: 'x', width: 64, height: 64, init: 'upload-abcdefghijklmnopqrstuvwx' });
      expect([missing.status, missing.body.error.code]).toEqual([404, 'init_not_found']);
      declared('/v1/jobs', 'post', 404, 'init_not_found');
      const running = await held.api.post('/v1/jobs', { prompt: 'running', width: 64, height: 64 });
      const notReady = await held.api.post('/v1/jobs', { prompt: 'x', width: 64, height: 64, init: running.body.id });
      expect([notReady.status, notReady.body.error.code]).toEqual([409, 'init_not_ready']);
      declared('/v1/jobs', 'post', 409, 'init_not_ready');
      // a PNG whose header declares 100 000 × 100 000
      const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: 'white' } }).png().toBuffer();
      png.writeUInt32BE(100_000, 16);
      png.writeUInt32BE(100_000, 20);
      png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
      const form = new FormData();
      form.append('prompt', 'x');
      form.append('image', new Blob([png], { type: 'image/png' }), 'bomb.png');
      const bomb = await fetch(`${held.url}/v1/images/edits`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
      expect([bomb.status, ((await bomb.json()) as any).error.code]).toEqual([422, 'image_dimensions_too_large']);
      declared('/v1/images/edits', 'post', 422, 'image_dimensions_too_large');
    } finally {
      release();
      await held.close();
    }
  });

  it('answers unknown routes with 404 and wrong methods with 405 and Allow', async () => {
    const missing = await h.api.get('/v1/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    const wrong = await fetch(`${h.url}/v1/jobs`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST, GET, OPTIONS');
  });
});
