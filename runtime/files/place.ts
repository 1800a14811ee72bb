/**
 * Putting a checkpoint or an export's file inside a bundle without copying it. onnxruntime resolves external data only
 * inside the model's folder (absolute paths, `../` and symlinks out of it are refused), so the file
 * itself must be there: a hard link (same filesystem), else a reflink (copy-on-write filesystems:
 * Btrfs, XFS, APFS), else a copy, announced with its size and refused when the disk cannot hold it.
 */
import { constants, readdirSync, statfsSync, statSync } from 'node:fs';
import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export type PlacedHow = 'hardlink' | 'reflink' | 'copy';

export interface PlaceOptions {
  /** Refuse to copy (when neither a hard link nor a reflink works). */
  noCopy?: boolean;
  /** The user asked for an independent file: skip the hard link (a reflink is still independent). */
  copy?: boolean;
  log?: (line: string) => void;
}

/** `16.3 GiB`, `822.0 KiB`, `13 bytes`: binary units, one or two decimals. */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 40) return `${(bytes / 2 ** 40).toFixed(2)} TiB`;
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(bytes >= 100 * 2 ** 30 ? 0 : 1)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/** Places `src` at `dst` (replacing nothing: `dst` must not exist) and says how. */
export async function placeFile(src: string, dst: string, options: PlaceOptions = {}): Promise<PlacedHow> {
  await mkdir(dirname(dst), { recursive: true });
  let linkError: NodeJS.ErrnoException | undefined;
  if (!options.copy) {
    try {
      await link(src, dst);
      return 'hardlink';
    } catch (error) {
      linkError = error as NodeJS.ErrnoException;
    }
  }
  try {
    await copyFile(src, dst, constants.COPYFILE_FICLONE_FORCE);
    return 'reflink';
  } catch {
    await rm(dst, { force: true });
  }
  const size = statSync(src).size;
  const why = linkError
    ? `a hard link failed (${linkError.code ?? linkError.message}: the bundle is probably on another filesystem) and this filesystem has no reflinks`
    : 'an independent copy was asked for and this filesystem has no reflinks';
  if (options.noCopy) {
    throw new Error(`cannot place ${src} in the bundle without copying it: ${why}. Put the bundle on the same filesystem as the checkpoint, or allow the copy (${formatBytes(size)}).`);
  }
  const free = freeBytes(dirname(dst));
  if (free !== null && free < size) {
    throw new Error(`copying ${src} into the bundle needs ${formatBytes(size)} but only ${formatBytes(free)} is free (${why}). Put the bundle on the checkpoint's filesystem.`);
  }
  options.log?.(`copying ${src} into the bundle: ${formatBytes(size)} of extra disk, because ${why}`);
  await copyFile(src, dst);
  return 'copy';
}

function freeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export interface TransferStats {
  linked: number;
  copied: number;
  /** Bytes that had to be copied (0 when everything was hard-linked). */
  copiedBytes: number;
}

export function newTransferStats(): TransferStats {
  return { linked: 0, copied: 0, copiedBytes: 0 };
}

/**
 * Hard-links `src` to `dst`; when linking fails (another filesystem, no permission, FAT, …) or
 * `copy` is set, copies instead (a reflink where the filesystem offers one).
 */
export async function linkOrCopy(src: string, dst: string, stats: TransferStats, copy = false): Promise<void> {
  await rm(dst, { force: true });
  if ((await placeFile(src, dst, { copy })) === 'hardlink') {
    stats.linked++;
  } else {
    stats.copied++;
    stats.copiedBytes += statSync(src).size;
  }
}

/** Links/copies every file under `src` (recursively) into `dst`, except those `skip` names. */
export async function linkFolder(src: string, dst: string, stats: TransferStats, copy = false, skip: (rel: string) => boolean = () => false, rel = ''): Promise<void> {
  for (const entry of readdirSync(join(src, rel), { withFileTypes: true })) {
    const child = rel ? join(rel, entry.name) : entry.name;
    if (skip(child)) continue;
    if (entry.isDirectory()) await linkFolder(src, dst, stats, copy, skip, child);
    else if (entry.isFile() || entry.isSymbolicLink()) await linkOrCopy(join(src, child), join(dst, child), stats, copy);
  }
}
