/** The main thread's message pair drops malformed messages and throws on names nobody handles. */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeFigma } from './fake-figma.ts';

describe('plugin events', () => {
  let fake: FakeFigma;
  let events: typeof import('../../plugin/events.ts');
  beforeEach(async () => {
    fake = new FakeFigma().install();
    vi.resetModules();
    events = await import('../../plugin/events.ts');
    events.listen();
  });

  it('routes a well-formed message to its handler', async () => {
    const seen: string[] = [];
    events.on('notify', (m) => void seen.push(m.message));
    await fake.send({ type: 'notify', message: 'hi', error: false });
    expect(seen).toEqual(['hi']);
  });

  it('drops malformed messages', async () => {
    const seen: unknown[] = [];
    events.on('job-preview', (m) => void seen.push(m));
    for (const bad of [null, 'ready', 42, [], { type: 7 }, { type: 'unknown-name' }, { type: 'job-preview', jobId: 'a', png: [1, 2] }, { type: 'job-preview', png: new Uint8Array(1) }]) {
      await fake.send(bad);
    }
    expect(seen).toEqual([]);
  });

  it('throws on a known name nobody handles', async () => {
    await expect(fake.send({ type: 'regenerate', nodeIds: [] })).rejects.toThrow(/No handler for the UI message "regenerate"/);
  });

  it('emit posts { type, ...payload } to the UI', () => {
    events.emit('job-failed', { jobId: 'j', message: 'm' });
    expect(fake.messages).toEqual([{ type: 'job-failed', jobId: 'j', message: 'm' }]);
  });
});
