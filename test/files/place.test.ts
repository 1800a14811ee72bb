// Placing a checkpoint in the bundle: a hard link on the same filesystem; across filesystems (here
// /dev/shm, a tmpfs without reflinks) a copy, announced with its size, or refused with --no-copy.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { placeFile } from '../../runtime/files/place.ts';
import { tempRoot } from '../convert/helpers/flux-fixtures.ts';

const { root, cleanup } = tempRoot('dype-convert-link-');
const SHM = '/dev/shm';
const otherFs = existsSync(SHM) && statSync(SHM).dev !== statSync(root).dev ? mkdtempSync(join(SHM, 'dype-link-')) : null;
afterAll(() => {
  cleanup();
  if (otherFs) rmSync(otherFs, { recursive: true, force: true });
});

const source = join(root, 'flux1-dev.safetensors');
writeFileSync(source, Buffer.alloc(3 * 1024 * 1024, 7));

describe('placeFile', () => {
  it('hard-links on the same filesystem', async () => {
    const dst = join(root, 'bundle', 'transformer', 'flux1-dev.safetensors');
    expect(await placeFile(source, dst)).toBe('hardlink');
    expect(statSync(dst).ino).toBe(statSync(source).ino);
  });

  it.skipIf(!otherFs)('copies across filesystems after saying what it costs, or refuses with noCopy', async () => {
    const lines: string[] = [];
    await expect(placeFile(source, join(otherFs!, 'a', 'flux1-dev.safetensors'), { noCopy: true })).rejects.toThrow(/without copying it: a hard link failed \(EXDEV/);
    expect(existsSync(join(otherFs!, 'a', 'flux1-dev.safetensors'))).toBe(false);
    const dst = join(otherFs!, 'b', 'flux1-dev.safetensors');
    expect(await placeFile(source, dst, { log: (l) => lines.push(l) })).toBe('copy');
    expect(lines).toEqual([expect.stringMatching(/copying .*flux1-dev\.safetensors into the bundle: 3\.0 MiB of extra disk, because a hard link failed/)]);
    expect(readFileSync(dst).equals(readFileSync(source))).toBe(true);
  });
});
