import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadOrCreateToken, resolveDataDir } from '../../runtime/server/data-dir.ts';

describe('resolveDataDir', () => {
  const home = '/home/ada';
  it.each([
    ['linux', {}, '/home/ada/.local/share/dype'],
    ['linux', { XDG_DATA_HOME: '/xdg' }, '/xdg/dype'],
    ['darwin', {}, '/home/ada/Library/Application Support/dype'],
    ['win32', { APPDATA: '/roaming' }, '/roaming/dype'],
    ['win32', {}, '/home/ada/AppData/Roaming/dype'],
  ] as const)('%s %j → %s', (platform, env, expected) => {
    expect(resolveDataDir(undefined, env, platform, home).replaceAll('\\', '/')).toBe(expected);
  });

  it('takes an explicit folder (--data), and reads no DYPE_DATA itself (the CLI option does)', () => {
    expect(resolveDataDir('/custom', { XDG_DATA_HOME: '/xdg' }, 'linux', home)).toBe('/custom');
    expect(resolveDataDir('', {}, 'linux', home)).toBe('/home/ada/.local/share/dype');
    expect(resolveDataDir(undefined, { DYPE_DATA: '/custom' }, 'linux', home)).toBe('/home/ada/.local/share/dype');
  });
});

describe('loadOrCreateToken', () => {
  let dir = '';
  afterEach(async () => {
    vi.unstubAllEnvs();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates a 32-byte token with mode 0600 on first start and reuses it', async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'dype-token-')), 'nested', 'data');
    const token = await loadOrCreateToken(dir);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    const file = join(dir, 'token');
    expect((await readFile(file, 'utf8')).trim()).toBe(token);
    if (process.platform !== 'win32') expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateToken(dir)).toBe(token);
    const concurrent = await Promise.all([1, 2, 3].map(() => loadOrCreateToken(dir)));
    expect(new Set(concurrent)).toEqual(new Set([token]));
  });

  it('lets an explicit token (--token) win without storing it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-token-'));
    expect(await loadOrCreateToken(dir, 'explicit-token-123456')).toBe('explicit-token-123456');
    await expect(stat(join(dir, 'token'))).rejects.toThrow();
    await expect(loadOrCreateToken(dir, 'short')).rejects.toThrow(/at least 16/);
  });

  it('reads no DYPE_TOKEN itself: the CLI option does, and passes it as the explicit token', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-token-'));
    vi.stubEnv('DYPE_TOKEN', 'env-token-1234567890');
    const token = await loadOrCreateToken(dir);
    expect(token).not.toBe('env-token-1234567890');
    expect((await readFile(join(dir, 'token'), 'utf8')).trim()).toBe(token);
  });

  it('replaces a damaged token file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-token-'));
    await writeFile(join(dir, 'token'), 'x\n');
    const token = await loadOrCreateToken(dir);
    expect(token.length).toBeGreaterThanOrEqual(40);
    expect((await readFile(join(dir, 'token'), 'utf8')).trim()).toBe(token);
  });
});
