/**
 * The one tail of every bundle writer (`dype convert`, `dype import`): the scheduler config when the
 * writer has no export's own to link, dype.json, the checkpoint record of a converted bundle; then
 * the staged folder is read back exactly as the pipeline will read it, before it is renamed into place.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../files/atomic.ts';
import { CHECKPOINTS_FILE, type CheckpointRecord } from './checkpoints.ts';
import type { BundleConfig } from './config.ts';
import { BUNDLE_FILES, readBundle, type Bundle } from './read.ts';

export interface BundleTail {
  config: BundleConfig;
  /** diffusers scheduler config to write (a family's published one); leave out when the writer linked one. */
  scheduler?: Readonly<Record<string, unknown>>;
  /** The checkpoints a converted bundle's graphs read their weights from. */
  checkpoints?: readonly CheckpointRecord[];
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Writes the tail into `staging` and reads the bundle back; a bundle that does not read back fails with the writer's own error. */
export async function finishBundle(staging: string, tail: BundleTail, fail: (message: string, cause: unknown) => Error): Promise<Bundle> {
  if (tail.scheduler) await writeFileAtomic(join(staging, BUNDLE_FILES.scheduler), json(tail.scheduler));
  await writeFileAtomic(join(staging, BUNDLE_FILES.config), json(tail.config));
  if (tail.checkpoints) await writeFileAtomic(join(staging, CHECKPOINTS_FILE), json({ format: 'dype-checkpoints', version: 1, files: tail.checkpoints }));
  try {
    return readBundle(staging);
  } catch (error) {
    throw fail(`the assembled bundle does not read back: ${(error as Error).message}`, error);
  }
}
