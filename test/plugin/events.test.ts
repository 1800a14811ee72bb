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

  it('drops generate and result messages whose parameters are out of range', async () => {
    const seen: unknown[] = [];
    events.on('generate', (m) => void seen.push(m));
    events.on('reapply', (m) => void seen.push(m));
    const params = { prompt: 'p', method: 'dy-yarn', steps: null, guidance: null, dypeScale: null, dypeExponent: null, seed: 1, format: 'png', density: { kind: 'scale', scale: 2 } };
    const bad = [
      { method: 'nonsense' },
      { density: { kind: 'scale', scale: -1 } },
      { density: { kind: 'longest', px: 1.5 } },
      { seed: -1 },
      { seed: 2 ** 32 },
      { steps: 0 },
      { guidance: -1 },
      { format: 'gif' },
      { dypeScale: 8.5 },
      { dypeScale: undefined },
      { dypeExponent: 'fast' },
      { dypeExponent: -0.5 },
    ];
    for (const patch of bad) await fake.send({ type: 'generate', params: { ...params, ...patch } });
    const meta = { jobId: 'j', prompt: 'p', seed: 1, steps: 8, guidance: null, method: 'dy-yarn', format: 'png', dypeScale: null, dypeExponent: 'auto', model: 'm' };
    const image = { width: 1, height: 1, tiles: [{ x: 0, y: 0, width: 1, height: 1, bytes: new Uint8Array(1) }] };
    for (const patch of [{ method: 'nonsense' }, { format: 'webp' }, { guidance: 'high' }, { dypeExponent: 9 }]) await fake.send({ type: 'reapply', meta: { ...meta, ...patch }, image });
    expect(seen).toEqual([]);
    await fake.send({ type: 'generate', params });
    await fake.send({ type: 'reapply', meta, image });
    expect(seen).toHaveLength(2);
  });

  it('throws on a known name nobody handles', async () => {
    await expect(fake.send({ type: 'regenerate', nodeIds: [] })).rejects.toThrow(/No handler for the UI message "regenerate"/);
  });

  it('emit posts { type, ...payload } to the UI', () => {
    events.emit('job-failed', { jobId: 'j', message: 'm' });
    expect(fake.messages).toEqual([{ type: 'job-failed', jobId: 'j', message: 'm' }]);
  });
});
