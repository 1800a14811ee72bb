/** The queue over HTTP: one job at a time in FIFO order, a bounded queue, and cancelling. */
import { afterEach, describe, expect, it } from 'vitest';
import type { JobRecord, JobStore } from '../../runtime/server/jobs.ts';
import { JobQueue, QueueError } from '../../runtime/server/queue.ts';
import { FakeEngine } from './helpers/fake-engine.ts';
import { startCompanion, waitFor, type Harness } from './helpers/companion.ts';

describe('job queue', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    h?.engine.release();
    await h?.close();
    h = undefined;
  });

  it('runs 20 concurrent submits one at a time in FIFO order, or refuses them with 429; none is lost', async () => {
    h = await startCompanion({ engine: new FakeEngine({ stepMs: 2 }), maxQueue: 10 });
    const harness = h;
    const release = h.engine.hold();
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => harness.api.post('/v1/jobs', { prompt: `job ${i}`, width: 64, height: 64, steps: 2 })),
    );
    const accepted = replies.filter((r) => r.status === 202);
    const refused = replies.filter((r) => r.status !== 202);
    expect(accepted.length).toBe(11); // one running + 10 waiting
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.body.error.code).toBe('queue_full');
      expect(r.headers.get('retry-after')).toBe('5');
    }
    // positions at submission are distinct: 0 for the running job, then 1..10
    const byPosition = [...accepted].sort((a, b) => a.body.position - b.body.position);
    expect(byPosition.map((r) => r.body.position)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const health = await harness.api.get('/v1/health');
    expect(health.body.queue).toEqual({ running: 1, waiting: 10, capacity: 10 });

    release();
    const finished = await Promise.all(accepted.map((r) => harness.api.events(r.body.id).all()));
    expect(finished.every((events) => events.at(-1)?.event === 'done')).toBe(true);
    // the engine saw them in submission order, each exactly once, never two at a time
    expect(harness.engine.calls.map((c) => c.request.prompt)).toEqual(byPosition.map((r) => r.body.params.prompt));
    const jobs = (await harness.api.get('/v1/jobs?limit=200')).body.jobs;
    expect(jobs.length).toBe(11);
    const starts = jobs.map((j: any) => [Date.parse(j.startedAt), Date.parse(j.finishedAt)]).sort((a: number[], b: number[]) => a[0] - b[0]);
    for (let i = 1; i < starts.length; i++) expect(starts[i][0]).toBeGreaterThanOrEqual(starts[i - 1][1]);
  });

  it('sends queued events with the position as the queue moves', async () => {
    h = await startCompanion({ engine: new FakeEngine({ stepMs: 5 }) });
    const release = h.engine.hold();
    const first = await h.api.post('/v1/jobs', { prompt: 'first', width: 64, height: 64 });
    const second = await h.api.post('/v1/jobs', { prompt: 'second', width: 64, height: 64 });
    const third = await h.api.post('/v1/jobs', { prompt: 'third', width: 64, height: 64 });
    expect([first.body.position, second.body.position, third.body.position]).toEqual([0, 1, 2]);
    const stream = h.api.events(third.body.id);
    await stream.until((e) => e.event === 'queued');
    release();
    const events = await stream.all();
    const positions = events.filter((e) => e.event === 'queued').map((e) => (e as { position: number }).position);
    expect(positions).toEqual([2, 1]);
    expect(events.map((e) => e.event).slice(-1)).toEqual(['done']);
  });

  it('drops a cancelled queued job without running it', async () => {
    h = await startCompanion({ engine: new FakeEngine({ stepMs: 5 }) });
    const release = h.engine.hold();
    const running = await h.api.post('/v1/jobs', { prompt: 'running', width: 64, height: 64 });
    const queued = await h.api.post('/v1/jobs', { prompt: 'queued', width: 64, height: 64 });
    const stream = h.api.events(queued.body.id);
    await stream.until((e) => e.event === 'queued');
    const cancelled = await h.api.post(`/v1/jobs/${queued.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', position: null });
    expect((await stream.all()).at(-1)?.event).toBe('cancelled');
    // cancelling again is a no-op; cancelling a finished job is refused
    expect((await h.api.post(`/v1/jobs/${queued.body.id}/cancel`, {})).body.state).toBe('cancelled');
    release();
    await h.api.events(running.body.id).all();
    const again = await h.api.post(`/v1/jobs/${running.body.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('job_not_cancellable');
    expect(h.engine.calls.map((c) => c.request.prompt)).toEqual(['running']);
  });

  it('aborts a running job within one step and moves on to the next', async () => {
    h = await startCompanion({ engine: new FakeEngine({ stepMs: 40 }) });
    const running = await h.api.post('/v1/jobs', { prompt: 'long', width: 64, height: 64, steps: 100 });
    const next = await h.api.post('/v1/jobs', { prompt: 'next', width: 64, height: 64, steps: 2 });
    const stream = h.api.events(running.body.id);
    await stream.until((e) => e.event === 'progress' && (e as { step: number }).step >= 2);
    const cancelled = await h.api.post(`/v1/jobs/${running.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    const events = await stream.all();
    expect(events.at(-1)).toMatchObject({ event: 'cancelled', state: 'cancelled' });
    expect(events.at(-1)!.progress).toBeLessThan(1);
    const call = h.engine.calls[0];
    expect(call.outcome).toBe('aborted');
    expect(call.stepsDone - call.stepsAtAbort!).toBeLessThanOrEqual(1);
    expect((await h.api.events(next.body.id).all()).at(-1)?.event).toBe('done');
    expect(h.engine.calls.map((c) => c.request.prompt)).toEqual(['long', 'next']);
  });

  it('interrupts queued and running jobs on close and ends their streams', async () => {
    h = await startCompanion({ engine: new FakeEngine({ stepMs: 20 }), keepDataDir: false });
    const running = await h.api.post('/v1/jobs', { prompt: 'running', width: 64, height: 64, steps: 100 });
    const queued = await h.api.post('/v1/jobs', { prompt: 'queued', width: 64, height: 64 });
    const a = h.api.events(running.body.id);
    const b = h.api.events(queued.body.id);
    await a.until((e) => e.event === 'progress');
    await b.until((e) => e.event === 'queued');
    await waitFor(() => h!.companion.stats().streams === 2);
    await h.companion.close();
    expect((await a.all()).at(-1)).toMatchObject({ event: 'interrupted', error: { code: 'interrupted' } });
    expect((await b.all()).at(-1)).toMatchObject({ event: 'interrupted' });
    expect(h.companion.stats().streams).toBe(0);
  });
});

describe('JobQueue.list', () => {
  it('lists newest first without touching more jobs than it returns', () => {
    const touched = new Set<string>();
    // records that note every read, as a stand-in for "how much work does one listing do"
    const records = Array.from({ length: 1000 }, (_, i) => {
      const record = storedRecord(`job-${i}`, new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString());
      return new Proxy(record, { get: (target, key, receiver) => (touched.add(target.id), Reflect.get(target, key, receiver)) });
    });
    const queue = new JobQueue({ engine: new FakeEngine(), store: {} as JobStore, maxQueue: 1, previewIntervalMs: 0, stopTimeoutMs: 0, newId: () => 'x', log: () => {} });
    queue.load([...records].reverse());
    touched.clear();
    expect(queue.list(3).map((job) => job.id)).toEqual(['job-999', 'job-998', 'job-997']);
    expect([...touched].sort()).toEqual(['job-997', 'job-998', 'job-999']);
  });
});

describe('JobQueue errors', () => {
  it('are domain errors without HTTP statuses; the HTTP layer maps them (429 with Retry-After)', async () => {
    const queue = new JobQueue({ engine: new FakeEngine(), store: {} as JobStore, maxQueue: 1, previewIntervalMs: 0, stopTimeoutMs: 0, newId: () => 'x', log: () => {} });
    queue.load([storedRecord('old', new Date(0).toISOString())]);
    const unknown = queue.cancel('nope');
    await expect(unknown).rejects.toBeInstanceOf(QueueError);
    await expect(unknown).rejects.toMatchObject({ code: 'job_not_found' });
    await expect(unknown).rejects.not.toHaveProperty('status');
    await expect(queue.submit([{ id: 'old', params: storedRecord('old', '').params, request: { prompt: 'other' }, source: 'jobs' }])).rejects.toMatchObject({ code: 'job_conflict', field: 'id' });

    const h = await startCompanion({ engine: new FakeEngine({ stepMs: 50 }), maxQueue: 1 });
    try {
      const release = h.engine.hold();
      const replies = await Promise.all([1, 2, 3].map((seed) => h.api.post('/v1/jobs', { prompt: 'full', width: 64, height: 64, seed })));
      const full = replies.find((r) => r.status === 429)!;
      expect(full.body.error.code).toBe('queue_full');
      expect(full.headers.get('retry-after')).toBe('5');
      release();
    } finally {
      await h.close();
    }
  });
});

function storedRecord(id: string, createdAt: string): JobRecord {
  return {
    id,
    state: 'done',
    params: { prompt: 'p', width: 64, height: 64, seed: 1, steps: 4, guidance: null, method: 'dy-yarn', format: 'png', dypeScale: 2, dypeExponent: 'auto', yarnScaling: 'anisotropic' },
    request: { prompt: 'p' },
    source: 'jobs',
    createdAt,
    startedAt: createdAt,
    finishedAt: createdAt,
    progress: 1,
    step: 4,
    error: null,
    result: null,
  };
}
