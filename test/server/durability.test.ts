/**
 * Crash durability: a companion in its own process finishes one job, is killed with SIGKILL in the
 * middle of the next, and is restarted on the same data folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Api } from './helpers/companion.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const entry = fileURLToPath(new URL('./fixtures/companion-entry.ts', import.meta.url));

interface Child {
  process: ChildProcess;
  api: Api;
  exited: Promise<number | null>;
}

async function startChild(dataDir: string): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, dataDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`companion did not start: ${stderr}`)), 30_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    void exited.then((code) => reject(new Error(`companion exited (${code}): ${stderr}`)));
  });
  return { process: child, api: new Api(url), exited };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('crash durability', () => {
  let dataDir = '';
  const children: Child[] = [];
  afterAll(async () => {
    for (const c of children) if (c.process.exitCode === null) c.process.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps finished images and marks cut-off jobs interrupted after kill -9', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dype-crash-'));
    const first = await startChild(dataDir);
    children.push(first);

    const finished = await first.api.run({ prompt: 'keep me', width: 160, height: 96, seed: 11 });
    expect(finished.job.state).toBe('done');
    const before = await first.api.bytes(`/v1/jobs/${finished.job.id}/image`);
    expect(before.status).toBe(200);

    const slow = await first.api.post('/v1/jobs', { id: 'slow-job', prompt: 'slow one', width: 64, height: 64, steps: 100 });
    const waiting = await first.api.post('/v1/jobs', { id: 'waiting-job', prompt: 'behind the slow one', width: 64, height: 64 });
    expect([slow.status, waiting.status]).toEqual([202, 202]);
    const stream = first.api.events('slow-job');
    await stream.until((e) => e.event === 'progress');
    first.process.kill('SIGKILL');
    await first.exited;
    stream.abort();

    const second = await startChild(dataDir);
    children.push(second);
    const jobs = (await second.api.get('/v1/jobs')).body.jobs as Array<{ id: string; state: string; error: { code: string } | null }>;
    const byId = new Map(jobs.map((j) => [j.id, j]));
    expect(jobs.map((j) => j.id)).toEqual(['waiting-job', 'slow-job', finished.job.id]);
    expect(byId.get(finished.job.id)).toMatchObject({ state: 'done', error: null });
    expect(byId.get('slow-job')).toMatchObject({ state: 'interrupted', error: { code: 'interrupted' } });
    expect(byId.get('waiting-job')).toMatchObject({ state: 'interrupted', error: { code: 'interrupted' } });

    const after = await second.api.bytes(`/v1/jobs/${finished.job.id}/image`);
    expect(after.status).toBe(200);
    expect(sha(after.bytes)).toBe(sha(before.bytes));
    expect(after.headers.get('content-length')).toBe(String(before.bytes.length));
    expect((await second.api.get('/v1/jobs/slow-job/image')).body.error.code).toBe('image_not_ready');
    expect((await second.api.events('slow-job').all()).map((e) => e.event)).toEqual(['interrupted']);

    // no temp files are left; the interrupted job's id can be retried
    for (const dir of ['jobs', 'images']) {
      expect((await readdir(join(dataDir, dir))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    }
    const record = JSON.parse(await readFile(join(dataDir, 'jobs', 'slow-job.json'), 'utf8'));
    expect(record.state).toBe('interrupted');
    expect((await second.api.post('/v1/jobs', { id: 'waiting-job', prompt: 'behind the slow one', width: 64, height: 64 })).status).toBe(202);
    expect((await second.api.events('waiting-job').all()).at(-1)?.event).toBe('done');

    // and it still works, and stops cleanly
    expect((await second.api.run({ prompt: 'after restart', width: 64, height: 64 })).job.state).toBe('done');
    second.process.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
