/** Settings in clientStorage, merged over the defaults; main.ts shows the UI with theme colours. */
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_SETTINGS } from '../../plugin/defaults.ts';
import { FakeFigma } from './fake-figma.ts';
import { startPlugin } from './helpers.ts';

describe('settings', () => {
  it('sends the defaults merged with what is stored, dropping bad values', async () => {
    const { fake } = await startPlugin({
      setup: (f) => void f.storage.set('settings', { token: 'tok-123', density: { kind: 'longest', px: 3000 }, method: 'nonsense', seed: -4 }),
    });
    expect(fake.lastMessage('settings').settings).toEqual({ ...DEFAULT_SETTINGS, token: 'tok-123', density: { kind: 'longest', px: 3000 } });
  });

  it('keeps λ settings in range ("auto" too) and drops the rest', async () => {
    const { fake } = await startPlugin({ setup: (f) => void f.storage.set('settings', { dypeScale: 1.5, dypeExponent: 'auto' }) });
    expect(fake.lastMessage('settings').settings).toMatchObject({ dypeScale: 1.5, dypeExponent: 'auto' });
    await fake.send({ type: 'save-settings', patch: { dypeScale: 9, dypeExponent: 'fast' } as never });
    expect(fake.storage.get('settings')).toMatchObject({ dypeScale: 1.5, dypeExponent: 'auto' });
    await fake.send({ type: 'save-settings', patch: { dypeScale: null, dypeExponent: 0.5 } });
    expect(fake.storage.get('settings')).toMatchObject({ dypeScale: null, dypeExponent: 0.5 });
  });

  it.each([
    ['http://127.0.0.1:7860', 'http://localhost:7860'],
    ['http://[::1]:7861/', 'http://localhost:7861/'],
  ])('moves a stored %s to %s, once, with a note', async (stored, moved) => {
    const { fake } = await startPlugin({ setup: (f) => void f.storage.set('settings', { companionUrl: stored, token: 'tok-123' }) });
    expect(fake.lastMessage('settings').settings).toEqual({ ...DEFAULT_SETTINGS, companionUrl: moved, token: 'tok-123' });
    expect(fake.storage.get('settings')).toEqual({ companionUrl: moved, token: 'tok-123' });
    expect(fake.notices).toEqual([{ message: `DyPE now reaches the companion at ${moved} instead of ${stored}: Figma lets plugins reach this computer only as localhost.`, error: false }]);
    await fake.send({ type: 'save-settings', patch: { prompt: 'a fox' } });
    expect(fake.storage.get('settings')).toMatchObject({ companionUrl: moved, prompt: 'a fox' });
    expect(fake.notices).toHaveLength(1);
  });

  it.each(['http://localhost:7860', 'http://127.0.0.10:7860', 'http://my127.0.0.1.example:7860'])('leaves a stored %s as it is, without a note', async (stored) => {
    const { fake } = await startPlugin({ setup: (f) => void f.storage.set('settings', { companionUrl: stored }) });
    expect(fake.lastMessage('settings').settings.companionUrl).toBe(stored);
    expect(fake.notices).toEqual([]);
  });

  it('saves a patch (e.g. the token after pairing) over the stored settings', async () => {
    const { fake } = await startPlugin();
    await fake.send({ type: 'save-settings', patch: { token: 'paired-token', companionUrl: 'http://localhost:9999' } });
    await fake.send({ type: 'save-settings', patch: { prompt: 'a fox', seedLocked: true } });
    expect(fake.storage.get('settings')).toEqual({ ...DEFAULT_SETTINGS, token: 'paired-token', companionUrl: 'http://localhost:9999', prompt: 'a fox', seedLocked: true });
  });

  it('posts nothing to the UI before it says it is ready', async () => {
    const fake = new FakeFigma().install();
    const frame = fake.addFrame({ width: 10, height: 10 });
    vi.resetModules();
    await import('../../plugin/main.ts');
    await fake.flush();
    await fake.select([frame]);
    expect(fake.messages).toEqual([]);
    await fake.send({ type: 'ready' });
    expect(fake.messages.map((m) => m.type)).toEqual(['settings', 'selection', 'outdated']);
  });

  it('saves two patches sent at once without losing either', async () => {
    const { fake } = await startPlugin();
    // Figma does not wait for one message's handler before it delivers the next
    fake.post({ type: 'save-settings', patch: { token: 'paired-token' } });
    fake.post({ type: 'save-settings', patch: { prompt: 'a fox' } });
    await fake.flush();
    expect(fake.storage.get('settings')).toEqual({ ...DEFAULT_SETTINGS, token: 'paired-token', prompt: 'a fox' });
    expect(fake.uncaught).toEqual([]);
  });

  it('shows the UI with Figma theme colours and follows the current page for resized frames', async () => {
    const { fake } = await startPlugin();
    expect(fake.showUIOptions).toMatchObject({ themeColors: true });
    expect(fake.pageListenerCount(fake.page)).toBe(1);
    expect(fake.loadAllPagesCalls).toBe(0);
    expect(fake.notices).toEqual([]);
  });
});
