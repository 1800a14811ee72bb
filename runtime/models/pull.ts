/**
 * `dype pull`: which files of which repositories, is there room for them, then fetch each into the
 * Hugging Face cache (hub.ts) with progress events. Events only; the CLI draws bars, the companion
 * streams them over SSE.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { existsSync } from 'node:fs';
import { formatBytes } from '../files/place.ts';
import { repoCache, sizeOf, pointerReady, writeRef, hasBlob } from './hf-cache.ts';
import { downloadFile, HubError, listRepo, type HubConfig, type RemoteFile, type RepoListing } from './hub.ts';

/** What to take from one repository: exact file paths, or folders (ending in "/") whose files are all taken. */
export interface RepoSelection {
  repo: string;
  /** Absent: the repository's convertible checkpoints and tokenizer folders (`selectConvertible`). */
  paths?: readonly string[];
}

const REPO_PATTERN = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/** `hf:owner/repo` (the convertible files) or `hf:owner/repo/path/in/repo` (one file, or a folder with a trailing /). */
export function parseHfSpec(spec: string): RepoSelection {
  const body = spec.slice('hf:'.length);
  const [owner, name, ...rest] = body.split('/');
  const repo = `${owner}/${name}`;
  if (!spec.startsWith('hf:') || name === undefined || !REPO_PATTERN.test(repo) || rest.some((p) => p === '..' || p === '.')) {
    throw new HubError('not_found', `"${spec}" is not hf:<owner>/<repo> or hf:<owner>/<repo>/<path>`);
  }
  return rest.length && rest.join('/') !== '' ? { repo, paths: [rest.join('/')] } : { repo };
}

const CHECKPOINT = /\.(safetensors|gguf)$/i;
const SHARD_INDEX = /\.safetensors\.index\.json$/i;
/** diffusers folders: text encoders are never at a BFL repository's top level, so they are always taken. */
const TEXT_ENCODER_FOLDERS = ['text_encoder/', 'text_encoder_2/'];
/** Taken only when the top level holds no checkpoint (a repository with both would give two transformers). */
const WEIGHT_FOLDERS = ['transformer/', 'vae/'];
const TOKENIZER_FOLDERS = ['tokenizer/', 'tokenizer_2/'];

/**
 * For `hf:owner/repo`: the top-level checkpoints (ComfyUI/BFL style: flux1-dev.safetensors,
 * ae.safetensors, …), the diffusers text_encoder/ and text_encoder_2/ weights, transformer/ and vae/
 * only when the top level has no checkpoint, and every file of tokenizer/ and tokenizer_2/.
 */
export function selectConvertible(files: readonly RemoteFile[]): RemoteFile[] {
  const topLevel = files.filter((f) => !f.path.includes('/') && CHECKPOINT.test(f.path));
  const weightFolders = [...TEXT_ENCODER_FOLDERS, ...(topLevel.length ? [] : WEIGHT_FOLDERS)];
  return files.filter((f) => {
    if (topLevel.includes(f)) return true;
    if (TOKENIZER_FOLDERS.some((d) => f.path.startsWith(d) && !f.path.slice(d.length).includes('/'))) return true;
    return weightFolders.some((d) => f.path.startsWith(d) && !f.path.slice(d.length).includes('/') && (CHECKPOINT.test(f.path) || SHARD_INDEX.test(f.path)));
  });
}

/** The listed files a selection names; a named path the repository lacks is an error. */
export function selectPaths(listing: RepoListing, paths: readonly string[]): RemoteFile[] {
  const out: RemoteFile[] = [];
  for (const wanted of paths) {
    const matched = wanted.endsWith('/') ? listing.files.filter((f) => f.path.startsWith(wanted) && !f.path.slice(wanted.length).includes('/')) : listing.files.filter((f) => f.path === wanted);
    if (matched.length === 0) throw new HubError('not_found', `${listing.repo} has no ${wanted.endsWith('/') ? 'folder' : 'file'} ${wanted}`, wanted);
    out.push(...matched);
  }
  return [...new Set(out)];
}

export interface PlannedFile extends RemoteFile {
  commit: string;
  /** Bytes already on disk (a finished blob, or a partial download). */
  have: number;
  /** Already in the snapshot: nothing to fetch. */
  present: boolean;
}

export interface PullPlan {
  cacheDir: string;
  repos: RepoListing[];
  files: PlannedFile[];
  totalBytes: number;
  /** Bytes still to fetch. */
  neededBytes: number;
}

/** Lists each repository and works out what is there already. Nothing is written. */
export async function planPull(config: HubConfig, selections: readonly RepoSelection[], cacheDir: string): Promise<PullPlan> {
  const repos: RepoListing[] = [];
  const files: PlannedFile[] = [];
  for (const selection of selections) {
    const listing = await listRepo(config, selection.repo);
    repos.push(listing);
    const chosen = selection.paths ? selectPaths(listing, selection.paths) : selectConvertible(listing.files);
    if (chosen.length === 0) throw new HubError('not_found', `${selection.repo} has no checkpoint (*.safetensors, *.gguf) to pull`);
    const cache = repoCache(cacheDir, listing.repo);
    for (const file of chosen) {
      const present = pointerReady(cache.pointer(listing.commit, file.path), file.size) || hasBlob(cache, file.etag, file.size);
      const have = present ? file.size : Math.min(file.size, sizeOf(cache.incomplete(file.etag)));
      files.push({ ...file, commit: listing.commit, have, present });
    }
  }
  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const neededBytes = files.reduce((n, f) => n + f.size - f.have, 0);
  return { cacheDir, repos, files, totalBytes, neededBytes };
}

/** Free bytes for an unprivileged user on the filesystem that holds `dir` (or its nearest existing parent). */
export async function freeBytes(dir: string): Promise<number> {
  let at = dir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  const s = await statfs(at);
  return s.bavail * s.bsize;
}

/** Room kept free beyond the files themselves: conversion writes graphs and metadata, and a full disk breaks other programs. */
export const DISK_MARGIN_BYTES = 256 * 1024 * 1024;

export function checkDiskSpace(plan: PullPlan, free: number): void {
  const needed = plan.neededBytes + (plan.neededBytes > 0 ? DISK_MARGIN_BYTES : 0);
  if (needed > free) {
    throw new HubError(
      'disk_full',
      `not enough disk space in ${plan.cacheDir}: the pull needs ${formatBytes(plan.neededBytes)} more (plus ${formatBytes(DISK_MARGIN_BYTES)} kept free), ${formatBytes(free)} is free. ` +
        'Free some space, or set HF_HUB_CACHE (or HF_HOME) to a folder on a larger disk. Nothing was downloaded.',
    );
  }
}

export type PullEvent =
  | { kind: 'plan'; files: { repo: string; path: string; size: number; have: number; present: boolean }[]; totalBytes: number; neededBytes: number }
  | { kind: 'file'; repo: string; path: string; have: number; size: number }
  | { kind: 'verify'; repo: string; path: string }
  | { kind: 'done-file'; repo: string; path: string; transferred: number; skipped: boolean }
  | { kind: 'retry'; repo: string; path: string; reason: string };

export interface PullOptions {
  signal?: AbortSignal;
  onEvent?: (event: PullEvent) => void;
  /** Free space on the cache's disk (default: statfs); tests pass a smaller number to stand for a full disk. */
  freeBytes?: (dir: string) => Promise<number>;
  /** Tries per file when the connection drops (each resumes from the partial file). */
  attempts?: number;
}

export interface PullResult {
  plan: PullPlan;
  /** Snapshot folder per repository. */
  snapshots: Map<string, string>;
  /** Snapshot path of every pulled file. */
  paths: string[];
  transferredBytes: number;
}

/** Plans, checks the disk, then fetches what is missing, one file at a time. */
export async function pull(config: HubConfig, selections: readonly RepoSelection[], cacheDir: string, options: PullOptions = {}): Promise<PullResult> {
  const plan = await planPull(config, selections, cacheDir);
  const emit = options.onEvent ?? (() => {});
  emit({ kind: 'plan', files: plan.files.map(({ repo, path, size, have, present }) => ({ repo, path, size, have, present })), totalBytes: plan.totalBytes, neededBytes: plan.neededBytes });
  checkDiskSpace(plan, await (options.freeBytes ?? freeBytes)(cacheDir));
  let transferredBytes = 0;
  const paths: string[] = [];
  for (const file of plan.files) {
    if (options.signal?.aborted) throw new HubError('cancelled', 'stopped; pull again to resume');
    const cache = repoCache(cacheDir, file.repo);
    const report = (have: number) => emit({ kind: 'file', repo: file.repo, path: file.path, have, size: file.size });
    const attempts = options.attempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        const transferred = await downloadFile(file, {
          config,
          cache,
          commit: file.commit,
          signal: options.signal,
          onBytes: report,
          onVerify: () => emit({ kind: 'verify', repo: file.repo, path: file.path }),
        });
        transferredBytes += transferred;
        emit({ kind: 'done-file', repo: file.repo, path: file.path, transferred, skipped: file.present });
        break;
      } catch (error) {
        // a dropped connection is tried again from where the partial file ends; the Hub's refusals are not
        if (error instanceof HubError || attempt >= attempts || options.signal?.aborted) throw error;
        emit({ kind: 'retry', repo: file.repo, path: file.path, reason: (error as Error).message });
      }
    }
    paths.push(cache.pointer(file.commit, file.path));
  }
  const snapshots = new Map<string, string>();
  for (const listing of plan.repos) {
    const cache = repoCache(cacheDir, listing.repo);
    await writeRef(cache, 'main', listing.commit);
    snapshots.set(listing.repo, cache.snapshot(listing.commit));
  }
  return { plan, snapshots, paths, transferredBytes };
}
