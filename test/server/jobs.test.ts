/** The job store on its own: atomic records, crash leftovers, damaged files. */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JobStore, type JobRecord } from '../../runtime/server/jobs.ts';

const record = (id: string, state: JobRecord['state']): JobRecord => ({
  id,
  state,
  params: { prompt: 'p', width: 64, height: 64, seed: 1, steps: 4, guidance: null, method: 'dy-yarn', format: 'png', dypeScale: 2, dypeExponent: 'auto', yarnScaling: 'anisotropic' },
  request: { prompt: 'p' },
  source: 'jobs',
  createdAt: new Date(0).toISOString(),
  startedAt: null,
  finishedAt: null,
  progress: 0,
  step: 0,
  error: null,
  result: null,
});

describe('JobStore', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('marks queued/running records interrupted, skips damaged ones and removes temp files', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-store-'));
    const store = new JobStore(dir);
    await store.open();
    await Promise.all([store.save(record('a', 'queued')), store.save(record('b', 'running')), store.save(record('c', 'cancelled'))]);
    await writeFile(join(dir, 'jobs', 'broken.json'), '{"id": "broken", "state": "do');
    await writeFile(join(dir, 'jobs', 'other.json'), JSON.stringify(record('not-other', 'done')));
    await writeFile(join(dir, 'jobs', '.a.json.123.tmp'), 'half');
    await writeFile(join(dir, 'images', '.x.png.456.tmp'), 'half');

    const reopened = new JobStore(dir);
    const { records, skipped } = await reopened.open();
    const states = Object.fromEntries(records.map((r) => [r.id, r.state]));
    expect(states).toEqual({ a: 'interrupted', b: 'interrupted', c: 'cancelled' });
    expect(records.find((r) => r.id === 'a')?.error?.code).toBe('interrupted');
    expect(skipped.sort()).toEqual(['broken.json', 'other.json']);
    expect(JSON.parse(await readFile(join(dir, 'jobs', 'b.json'), 'utf8')).state).toBe('interrupted');
    expect((await readdir(join(dir, 'jobs'))).some((n) => n.endsWith('.tmp'))).toBe(false);
    expect(await readdir(join(dir, 'images'))).toEqual([]);
  });

  it('removes the image of a job cut off between writing its image and saving it done; keeps done images', async () => {
    // kill -9 after the image rename and before the done record: the record still says running
    dir = await mkdtemp(join(tmpdir(), 'dype-store-'));
    const store = new JobStore(dir);
    await store.open();
    const done: JobRecord = { ...record('kept', 'done'), result: { file: 'kept.png', format: 'png', mimeType: 'image/png', width: 64, height: 64, bytes: 3, seed: 1, steps: 4, method: 'dy-yarn', dypeScale: 2, dypeExponent: 2, dypeExponentAuto: false, model: 'm', timings: {} as never, peakRssBytes: 0 } };
    await Promise.all([store.save(record('cut', 'running')), store.save(record('waiting', 'queued')), store.save(done)]);
    await writeFile(join(dir, 'images', 'cut.png'), 'png');
    await writeFile(join(dir, 'images', 'kept.png'), 'png');
    await writeFile(join(dir, 'images', 'waiting.jpg'), 'jpg');

    const { records } = await new JobStore(dir).open();
    expect(Object.fromEntries(records.map((r) => [r.id, r.state]))).toEqual({ cut: 'interrupted', waiting: 'interrupted', kept: 'done' });
    expect(await readdir(join(dir, 'images'))).toEqual(['kept.png']);
  });

  it('applies saves of one job in call order', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-store-'));
    await mkdir(dir, { recursive: true });
    const store = new JobStore(dir);
    await store.open();
    const states: JobRecord['state'][] = ['queued', 'running', 'done', 'failed', 'cancelled'];
    await Promise.all(states.map((s) => store.save(record('z', s))));
    expect(JSON.parse(await readFile(join(dir, 'jobs', 'z.json'), 'utf8')).state).toBe('cancelled');
  });

  it('keeps λ values and reads records from before them as λs = λt = 2', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-store-'));
    const store = new JobStore(dir);
    await store.open();
    await store.save(record('new', 'done'));
    const old = record('old', 'done') as unknown as { params: Record<string, unknown> };
    delete old.params.dypeScale;
    delete old.params.dypeExponent;
    await writeFile(join(dir, 'jobs', 'old.json'), JSON.stringify(old));
    const { records } = await new JobStore(dir).open();
    const params = Object.fromEntries(records.map((r) => [r.id, [r.params.dypeScale, r.params.dypeExponent]]));
    expect(params).toEqual({ new: [2, 'auto'], old: [2, 2] });
  });
});
