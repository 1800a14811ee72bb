/**
 * The model routes on a real companion over real HTTP: pulls from the Hub stand-in with SSE progress,
 * cancel and resume, and switching the loaded model while jobs run and wait (nothing is lost).
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelsView, PullEvent, PullJobView } from '../../runtime/contract/index.ts';
import { writeDemoBundle } from '../../runtime/demo/index.ts';
import { findCatalogModel } from '../../runtime/models/catalog.ts';
import { readActive } from '../../runtime/models/installed.ts';
import { catalogMemory } from '../../runtime/models/memory.ts';
import { SwitchableEngine } from '../../runtime/server/switchable-engine.ts';
import { tempRoot } from '../convert/helpers/flux-fixtures.ts';
import { HubStandin } from '../models/helpers/hub-standin.ts';
import { tinyFluxFiles } from '../models/helpers/tiny-repo.ts';
import { EventStream, startCompanion, TOKEN, type Harness } from './helpers/companion.ts';
import { FakeEngine } from './helpers/fake-engine.ts';

const REPO = 'tiny-labs/FLUX.1-tiny';
const hub = new HubStandin();
let root = '';
let cleanup = () => {};

beforeAll(async () => {
  ({ root, cleanup } = tempRoot('dype-models-api-'));
  hub.addRepo({ id: REPO, files: tinyFluxFiles() });
  await hub.start();
});
afterAll(async () => {
  await hub.close();
  cleanup();
});

function pullEvents(h: Harness, id: string): EventStream {
  return new EventStream(`${h.url}/v1/models/pulls/${id}/events`, { Authorization: `Bearer ${TOKEN}` });
}
const asPull = (events: unknown[]) => events as PullEvent[];

describe('GET /v1/models memory', () => {
  it('gives each catalog model the memory planner\'s needs per provider, and judges "fits" on the companion\'s provider and RAM', async () => {
    const ram = 32e9;
    const h = await startCompanion({ dataDir: join(root, 'data-memory'), models: { hub: { endpoint: hub.url }, cacheDir: join(root, 'cache-memory'), memoryBytes: ram, sizeTimeoutMs: 1 } });
    try {
      const { body } = await h.api.get<ModelsView>('/v1/models');
      expect(body).toMatchObject({ memoryBytes: ram, gpuBytes: null, fitsOn: 'cpu' });
      const entry = (name: string) => body.catalog.find((c) => c.name === name)!;
      for (const c of body.catalog) expect(c.memory, c.name).toEqual(catalogMemory(findCatalogModel(c.name)!));
      // bf16 FLUX.1 is widened to float32 on the CPU: more than 32 GB; the GGUF Q4_0 one is not
      expect(entry('flux1-dev').memory!.cpu.ramBytes).toBeGreaterThan(ram);
      expect(entry('flux1-dev').fits).toBe(false);
      expect(entry('flux1-dev-q4').memory!.cpu.ramBytes).toBeLessThan(ram);
      expect(entry('flux1-dev-q4').fits).toBe(true);
    } finally {
      await h.close();
    }
  });
});

describe('model pulls over the API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startCompanion({
      dataDir: join(root, 'data-pulls'),
      models: { hub: { endpoint: hub.url }, cacheDir: join(root, 'cache-pulls'), install: { convert: { hubCache: null } }, sizeTimeoutMs: 2000 },
    });
  });
  afterAll(() => h.close());

  it('pulls a repository as a job whose events give the plan, per-file progress, verification and conversion', async () => {
    const started = await h.api.post('/v1/models/pulls', { model: `hf:${REPO}` });
    expect(started.status).toBe(202);
    expect(started.headers.get('location')).toBe(`/v1/models/pulls/${started.body.id}`);
    const events = asPull(await pullEvents(h, started.body.id).all(60_000));
    const kinds = new Set(events.map((e) => e.event));
    expect([...kinds]).toEqual(expect.arrayContaining(['plan', 'file', 'verify', 'convert', 'done']));
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.job).toMatchObject({ state: 'done', progress: 1, installed: 'flux.1-tiny', error: null });
    expect(done.job.files.every((f) => f.state === 'done' && f.have === f.size)).toBe(true);
    // progress only grows
    const progress = events.map((e) => e.job.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    const models = await h.api.get<ModelsView>('/v1/models');
    expect(models.status).toBe(200);
    expect(models.body.installed.map((m) => [m.name, m.repos])).toEqual([['flux.1-tiny', [REPO]]]);
    expect(models.body.loaded).toMatchObject({ model: 'fake-dit', demo: true, name: null });
    // the catalog's real repositories are not on the stand-in: no size, but every entry with its licence and facts
    expect(models.body.catalog.find((c) => c.name === 'flux1-dev')).toMatchObject({ gated: true, downloadBytes: null, nativeSize: 1024, defaultSteps: 28, licence: { name: 'FLUX.1 [dev] Non-Commercial License' } });
  });

  it('a pull that has ended cannot be cancelled', async () => {
    const pulled = await h.api.post<PullJobView>('/v1/models/pulls', { model: `hf:${REPO}/ae.safetensors` });
    await pullEvents(h, pulled.body.id).all(20_000);
    const res = await h.api.post(`/v1/models/pulls/${pulled.body.id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('pull_not_cancellable');
  });

  it('refuses what it cannot pull, naming the field', async () => {
    const bad = await h.api.post('/v1/models/pulls', { model: 'flux9' });
    expect(bad.status).toBe(404);
    expect(bad.body.error).toMatchObject({ code: 'model_not_found', field: 'model' });
    expect((await h.api.post('/v1/models/pulls', { model: 'flux1-dev', extra: 1 })).body.error.code).toBe('unknown_field');
    expect((await h.api.get('/v1/models/pulls/not-a-pull')).body.error.code).toBe('pull_not_found');
    const noToken = await fetch(`${h.url}/v1/models`);
    expect(noToken.status).toBe(401);
    const badOrigin = await fetch(`${h.url}/v1/models`, { headers: { Authorization: `Bearer ${TOKEN}`, Origin: 'https://evil.example' } });
    expect(badOrigin.status).toBe(403);
  });
});

describe('cancel and resume of a pull over the API', () => {
  it('keeps the partial file on cancel, and the next pull continues from it', async () => {
    const cacheDir = join(root, 'cache-resume');
    const h = await startCompanion({ dataDir: join(root, 'data-resume'), models: { hub: { endpoint: hub.url }, cacheDir } });
    hub.chunkDelayMs = 60;
    try {
      const file = 'flux1-dev.safetensors';
      const first = await h.api.post<PullJobView>('/v1/models/pulls', { model: `hf:${REPO}/${file}` });
      const stream = pullEvents(h, first.body.id);
      await stream.until((e) => (e as unknown as PullEvent).job.doneBytes > 0, 20_000);
      // a client that opens now finds it running
      const listed = await h.api.get<{ pulls: PullJobView[] }>('/v1/models/pulls');
      expect(listed.status).toBe(200);
      expect(listed.body.pulls.map((p) => [p.id, p.model, p.state])).toEqual([[first.body.id, `hf:${REPO}/${file}`, 'running']]);
      expect(listed.body.pulls[0].doneBytes).toBeGreaterThan(0);
      expect((await fetch(`${h.url}/v1/models/pulls`)).status).toBe(401);
      expect((await h.api.post<PullJobView>(`/v1/models/pulls/${first.body.id}/cancel`)).body.state).toBe('cancelled');
      const blobs = join(cacheDir, 'models--tiny-labs--FLUX.1-tiny', 'blobs');
      const partial = readdirSync(blobs).find((b) => b.endsWith('.incomplete'));
      expect(partial).toBeDefined();
      hub.requests.length = 0;
      hub.chunkDelayMs = 0;
      const second = await h.api.post<PullJobView>('/v1/models/pulls', { model: `hf:${REPO}/${file}` });
      const events = asPull(await pullEvents(h, second.body.id).all(30_000));
      expect(events.at(-1)!.job.state).toBe('done');
      // newest first, ended ones too
      expect((await h.api.get<{ pulls: PullJobView[] }>('/v1/models/pulls')).body.pulls.map((p) => [p.id, p.state])).toEqual([
        [second.body.id, 'done'],
        [first.body.id, 'cancelled'],
      ]);
      const ranges = hub.downloads(file).map((r) => r.range);
      expect(ranges).toHaveLength(1);
      expect(ranges[0]).toMatch(/^bytes=[1-9]\d*-$/);
      expect(existsSync(join(blobs, partial!))).toBe(false);
      expect(existsSync(join(blobs, hub.sha256(REPO, file)))).toBe(true);
    } finally {
      hub.chunkDelayMs = 0;
      await h.close();
    }
  });
});

describe('switching the loaded model', () => {
  it('waits for the running job, keeps the queued one, and runs it on the new model', async () => {
    const dataDir = join(root, 'data-switch');
    const other = join(dataDir, 'models', 'other');
    await writeDemoBundle(other);
    const first = new FakeEngine({ info: { model: 'first-model' }, stepMs: 5 });
    const loaded: FakeEngine[] = [];
    let disposed = 0;
    const switcher = new SwitchableEngine({ engine: first, dir: null, dispose: async () => void disposed++ }, async (dir) => {
      const engine = new FakeEngine({ info: { model: `${basename(dir)}-model`, nativeResolution: 512, defaultSteps: 2 }, stepMs: 5 });
      loaded.push(engine);
      return { engine, dir, dispose: async () => {} };
    });
    // the queue runs the switchable engine; the harness only keeps it
    const h2 = await startCompanion({ dataDir, engine: switcher as unknown as FakeEngine, models: { hub: { endpoint: hub.url }, cacheDir: join(root, 'cache-switch'), switcher } });
    try {
      const release = first.hold();
      const a = await h2.api.post('/v1/jobs', { prompt: 'a', width: 256, height: 256, seed: 1 });
      await first.waitForCalls(1);
      const b = await h2.api.post('/v1/jobs', { prompt: 'b', width: 256, height: 256, seed: 2 });
      expect(b.body.state).toBe('queued');

      const switched = await h2.api.post('/v1/models/active', { model: 'other' });
      expect(switched.body).toMatchObject({ switching: 'other' });
      expect(switched.status).toBe(202);
      expect(switched.body.switching).toBe('other');
      expect((await h2.api.get<ModelsView>('/v1/models')).body.switching).toBe('other');
      expect(loaded).toHaveLength(0); // not while job a runs

      // submitted during the switch with the model's defaults: they are the new model's when it runs
      const c = await h2.api.post('/v1/jobs', { prompt: 'c', seed: 3 });
      expect(c.body.params).toMatchObject({ steps: 4, width: 256, height: 256 });
      release();
      const [doneA, doneB, doneC] = await Promise.all([a, b, c].map((j) => h2.api.events(j.body.id).all(20_000)));
      for (const events of [doneA, doneB, doneC]) expect(events.at(-1)!.event).toBe('done');
      expect(first.calls.map((call) => call.request.prompt)).toEqual(['a']);
      expect(loaded).toHaveLength(1);
      expect(loaded[0].calls.map((call) => call.request.prompt)).toEqual(['b', 'c']);
      // b (queued before the switch, steps left out) and c run with the new model's 2 steps; c at its 512² native size; seeds kept
      expect(loaded[0].calls.map(({ request: { steps, width, height, seed } }) => ({ steps, width, height, seed }))).toEqual([
        { steps: 2, width: 256, height: 256, seed: 2 },
        { steps: 2, width: 512, height: 512, seed: 3 },
      ]);
      expect((await h2.api.get(`/v1/jobs/${c.body.id}`)).body.params).toMatchObject({ steps: 2, width: 512, height: 512, seed: 3 });
      expect(first.calls[0].request.steps).toBe(4);
      expect(disposed).toBe(1);

      const health = await h2.api.get('/v1/health');
      expect(health.body).toMatchObject({ model: 'other-model', nativeResolution: 512, defaultSteps: 2 });
      const models = await h2.api.get<ModelsView>('/v1/models');
      expect(models.body.switching).toBeNull();
      expect(models.body.loaded).toMatchObject({ model: 'other-model', name: 'other' });
      expect(models.body.installed.find((m) => m.name === 'other')?.active).toBe(true);
      expect(readActive(dataDir)).toBe('other');
    } finally {
      await h2.close();
    }
  });

  it('a model that fails to load leaves the old one running, says why, and is not kept as the active one', async () => {
    const dataDir = join(root, 'data-switch-fail');
    await writeDemoBundle(join(dataDir, 'models', 'broken'));
    const first = new FakeEngine({ info: { model: 'first-model' }, stepMs: 5 });
    const switcher = new SwitchableEngine({ engine: first, dir: null, dispose: async () => {} }, async () => {
      // slow to fail, as a real load is: the queued job is waiting for it by then
      await new Promise((resolve) => setTimeout(resolve, 300));
      throw new Error('out of memory while creating the session');
    });
    const h = await startCompanion({ dataDir, engine: switcher as unknown as FakeEngine, models: { hub: { endpoint: hub.url }, cacheDir: join(root, 'cache-fail'), switcher } });
    try {
      // a job queued while the switch waits runs on the old model when the new one fails to load
      const release = first.hold();
      const running = await h.api.post('/v1/jobs', { prompt: 'running', width: 256, height: 256 });
      await first.waitForCalls(1);
      expect((await h.api.post('/v1/models/active', { model: 'broken' })).status).toBe(202);
      const queued = await h.api.post('/v1/jobs', { prompt: 'queued', width: 256, height: 256 });
      release();
      for (const job of [running, queued]) expect((await h.api.events(job.body.id).all(20_000)).at(-1)).toMatchObject({ event: 'done' });
      expect(first.calls.map((call) => call.request.prompt)).toEqual(['running', 'queued']);
      await expect.poll(async () => (await h.api.get<ModelsView>('/v1/models')).body.switchError).toBe('Could not load broken: out of memory while creating the session. The previous model stays loaded.');
      expect((await h.api.get('/v1/health')).body.model).toBe('first-model');
      await expect.poll(() => readActive(dataDir)).toBeNull();
      const job = await h.api.run({ prompt: 'still works', width: 256, height: 256 });
      expect(job.job.state).toBe('done');
    } finally {
      await h.close();
    }
  });

  it('refuses a model that is not installed', async () => {
    const h = await startCompanion({ models: { hub: { endpoint: hub.url }, cacheDir: join(root, 'cache-none') } });
    try {
      const res = await h.api.post('/v1/models/active', { model: 'nothing-here' });
      expect(res.status).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'model_not_found', field: 'model', message: expect.stringContaining('none installed yet') });
    } finally {
      await h.close();
    }
  });
});
