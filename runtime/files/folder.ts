/** Writing a whole folder so that a reader, or a restart after a crash, sees the old one or the new one, never half. */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';

/**
 * `build` fills a staging folder beside `target`, which then takes the target's place. `check` runs
 * before the build and again just before the swap, since the target may have changed meanwhile.
 * On failure the staging folder is removed and the target is left as it was.
 */
export async function replaceFolder<T>(target: string, check: () => void, build: (staging: string) => Promise<T>): Promise<T> {
  check();
  const staging = `${target}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const result = await build(staging);
    check();
    if (existsSync(target)) {
      const old = `${target}.old-${process.pid}`;
      await rename(target, old);
      await rename(staging, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(staging, target);
    }
    return result;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}
