/**
 * The Hugging Face hub cache layout, as huggingface_hub writes it, so files pulled here are shared
 * with Python tools and ComfyUI users' caches and found by `dype convert --scan`:
 *
 *   <cache>/models--<owner>--<repo>/blobs/<etag>            the bytes (etag: LFS sha256, else the git blob oid)
 *   <cache>/models--<owner>--<repo>/blobs/<etag>.incomplete  a download in progress (resumed from its length)
 *   <cache>/models--<owner>--<repo>/snapshots/<commit>/<path> a relative symlink to ../../blobs/<etag>
 *   <cache>/models--<owner>--<repo>/refs/main               the commit `main` pointed at
 *
 * The cache folder itself is `defaultHubCache()` (HF_HUB_CACHE, else HF_HOME/hub, else
 * ~/.cache/huggingface/hub), the one rule runtime/convert already uses.
 */
import { existsSync, statSync } from 'node:fs';
import { link, mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { getRepoFolderName } from '@huggingface/hub';
import { writeFileAtomic } from '../files/atomic.ts';

export { defaultHubCache } from '../convert/tokenizers.ts';

export interface RepoCache {
  /** models--owner--repo */
  root: string;
  blob(etag: string): string;
  incomplete(etag: string): string;
  snapshot(commit: string): string;
  pointer(commit: string, path: string): string;
}

export function repoCache(cacheDir: string, repo: string): RepoCache {
  const root = join(cacheDir, getRepoFolderName({ type: 'model', name: repo }));
  return {
    root,
    blob: (etag) => join(root, 'blobs', etag),
    incomplete: (etag) => join(root, 'blobs', `${etag}.incomplete`),
    snapshot: (commit) => join(root, 'snapshots', commit),
    pointer: (commit, path) => join(root, 'snapshots', commit, ...path.split('/')),
  };
}

/** Size of a file, or 0 when there is none. */
export function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Whether the snapshot already points at a blob of this size (a present file is not fetched again). */
export function pointerReady(pointer: string, size: number): boolean {
  return sizeOf(pointer) === size && existsSync(pointer);
}

/**
 * Points snapshots/<commit>/<path> at the blob with a relative symlink, as huggingface_hub does;
 * where symlinks are not allowed (Windows without developer mode) a hard link, which shares the bytes too.
 */
export async function linkPointer(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  await rm(pointer, { force: true });
  try {
    await symlink(relative(dirname(pointer), blob), pointer);
  } catch {
    await link(blob, pointer);
  }
}

/** refs/<name> holds the commit the name pointed at when pulled. */
export async function writeRef(cache: RepoCache, name: string, commit: string): Promise<void> {
  await writeFileAtomic(join(cache.root, 'refs', name), commit);
}

export function hasBlob(cache: RepoCache, etag: string, size: number): boolean {
  return existsSync(cache.blob(etag)) && sizeOf(cache.blob(etag)) === size;
}
