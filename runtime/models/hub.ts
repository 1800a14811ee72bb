/**
 * Talking to the Hugging Face Hub (or a mirror at HF_ENDPOINT).
 *
 * From @huggingface/hub: the model info (commit and gating, `modelInfo`), the recursive tree listing
 * with its Link-header pagination (`listFiles`), and the cache folder naming (`getRepoFolderName`).
 * What it lacks, written here: its `downloadFileToCacheDir` restarts a cut download from byte 0, checks
 * no hash, reports no progress, cannot be cancelled, writes no refs/, and reads no HF_ENDPOINT. So the
 * download itself follows huggingface_hub's file_download.py instead: GET `resolve/<commit>/<path>`
 * without following the redirect (to read X-Linked-Etag / X-Linked-Size), then the CDN location
 * without the Authorization header, with `Range: bytes=<partial>-` when a `.incomplete` file exists;
 * 206 appends, 200 restarts, 416 means the partial file already holds every byte. Every file is then
 * checked against the hash the Hub lists: the LFS sha256 (its oid), or the git blob sha1 of small files.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { hasBlob, linkPointer, sizeOf, type RepoCache } from './hf-cache.ts';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface HubConfig {
  /** Base URL: HF_ENDPOINT, else huggingface.co. */
  endpoint: string;
  /** --token, else HF_TOKEN. */
  token?: string;
}

/** The one place HF_ENDPOINT and HF_TOKEN are read. */
export function hubConfigFromEnv(env: NodeJS.ProcessEnv = process.env, token?: string): HubConfig {
  const endpoint = (env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  const chosen = token || env.HF_TOKEN || undefined;
  return chosen ? { endpoint, token: chosen } : { endpoint };
}

export type HubErrorCode = 'gated' | 'not_found' | 'bad_token' | 'verify_failed' | 'disk_full' | 'http' | 'cancelled';

export class HubError extends Error {
  constructor(
    readonly code: HubErrorCode,
    message: string,
    /** The file it is about, where there is one. */
    readonly file?: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

/** A file as the tree listing gives it: what to fetch, how big it is, and the hash to check it against. */
export interface RemoteFile {
  repo: string;
  path: string;
  size: number;
  /** Blob name in the cache: the LFS sha256 for LFS files, else the git blob oid. */
  etag: string;
  /** 'sha256' for LFS files (etag is the sha256 of the bytes); 'git-sha1' for small files stored in git. */
  hash: 'sha256' | 'git-sha1';
}

export function modelPage(config: HubConfig, repo: string): string {
  return `${config.endpoint}/${repo}`;
}

function credentials(config: HubConfig): { accessToken?: string } {
  return config.token ? { accessToken: config.token } : {};
}

/** The message for a repository that needs its licence accepted first, naming the page where that is done. */
function gatedMessage(config: HubConfig, repo: string, status: number): string {
  const page = modelPage(config, repo);
  if (status === 403 && config.token) {
    return `${repo} is gated and the token given has no access to it yet: sign in at ${page} with the account the token belongs to, accept the licence there, then pull again`;
  }
  return (
    `${repo} is gated: sign in at ${page} and accept its licence, create a read token at ${config.endpoint}/settings/tokens, ` +
    'then pull again with --token hf_… or HF_TOKEN=hf_… (for Download in the plugin, start the companion with HF_TOKEN set)'
  );
}

/** Turns a refused Hub answer into a HubError that says what to do. */
function refusal(config: HubConfig, repo: string, status: number, errorCode: string | null, file?: string): HubError {
  if (errorCode === 'GatedRepo') return new HubError('gated', gatedMessage(config, repo, status), file);
  // the Hub answers 401 for a repository that does not exist as for a private one
  if (errorCode === 'RepoNotFound' || ((status === 404 || status === 401) && !file)) {
    return new HubError('not_found', `${repo} was not found on ${config.endpoint} (or it is private and ${config.token ? 'the token gives no access' : 'no token was given'})`, file);
  }
  if (errorCode === 'EntryNotFound' || status === 404) return new HubError('not_found', `${repo} has no file ${file ?? ''}`.trim(), file);
  if (status === 401) return new HubError('bad_token', `${config.endpoint} refused the token (401): check --token / HF_TOKEN`, file);
  return new HubError('http', `${config.endpoint} answered ${status} for ${repo}${file ? `/${file}` : ''}`, file);
}

/** What @huggingface/hub throws (HubApiError) carries the status; its headers are gone, so 401/403 on a gated repo is judged by the model info. */
function fromLibrary(config: HubConfig, repo: string, error: unknown): Error {
  if (error instanceof TypeError && /access token must start/.test(error.message)) return new HubError('bad_token', 'a Hugging Face token starts with hf_; check --token / HF_TOKEN');
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number') return refusal(config, repo, status, null);
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const cause = (error.cause as Error | undefined)?.message ?? 'no answer';
    return new HubError('http', `could not reach ${config.endpoint} (${cause}); check the network, or HF_ENDPOINT`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

export interface RepoListing {
  repo: string;
  /** The commit `main` points at; every file is fetched at this commit. */
  commit: string;
  gated: boolean;
  files: RemoteFile[];
}

/** The model info (commit, gating) and every file of the repository at that commit. */
export async function listRepo(config: HubConfig, repo: string, revision = 'main'): Promise<RepoListing> {
  let commit: string;
  let gated: boolean;
  try {
    const info = await modelInfo({ name: repo, hubUrl: config.endpoint, revision, additionalFields: ['sha'], ...credentials(config) });
    if (typeof info.sha !== 'string' || !COMMIT.test(info.sha)) throw new HubError('http', `${config.endpoint} gave no valid commit for ${repo}`);
    commit = info.sha;
    gated = Boolean(info.gated);
  } catch (error) {
    throw fromLibrary(config, repo, error);
  }
  const files: RemoteFile[] = [];
  try {
    for await (const entry of listFiles({ repo, recursive: true, revision: commit, hubUrl: config.endpoint, ...credentials(config) })) {
      const file = toRemoteFile(repo, entry);
      if (file) files.push(file);
    }
  } catch (error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (gated && (status === 401 || status === 403)) throw new HubError('gated', gatedMessage(config, repo, status));
    throw fromLibrary(config, repo, error);
  }
  return { repo, commit, gated, files };
}

const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * A listed file, checked before any of it names something on disk: its path stays inside the
 * snapshot, its hash names a blob, its size is a size. A mirror that lists otherwise is refused.
 */
function toRemoteFile(repo: string, entry: ListFileEntry): RemoteFile | null {
  if (entry.type !== 'file') return null;
  const segments = entry.path.split('/');
  if (entry.path.startsWith('/') || entry.path.includes('\\') || segments.some((p) => p === '' || p === '.' || p === '..')) {
    throw new HubError('http', `${repo} lists a file path that leaves the repository: ${JSON.stringify(entry.path).slice(0, 120)}`);
  }
  const file = entry.lfs
    ? { repo, path: entry.path, size: entry.lfs.size, etag: entry.lfs.oid, hash: 'sha256' as const }
    : entry.oid
      ? { repo, path: entry.path, size: entry.size, etag: entry.oid, hash: 'git-sha1' as const }
      : null;
  if (!file) return null;
  if (!(file.hash === 'sha256' ? SHA256 : COMMIT).test(file.etag) || !Number.isSafeInteger(file.size) || file.size < 0) {
    throw new HubError('http', `${repo} lists ${entry.path} with a hash or size that is not valid`);
  }
  return file;
}

function newHash(file: RemoteFile): Hash {
  if (file.hash === 'sha256') return createHash('sha256');
  // git's blob id: sha1 over "blob <size>\0" and the content
  return createHash('sha1').update(`blob ${file.size}\0`);
}

/** Strips the quotes and weak marker an ETag header may carry (huggingface_hub's _normalize_etag). */
export function normalizeEtag(value: string | null): string | null {
  return value === null ? null : value.replace(/^W\//, '').replace(/^"|"$/g, '');
}

export interface DownloadOptions {
  config: HubConfig;
  cache: RepoCache;
  commit: string;
  signal?: AbortSignal;
  /** Bytes of this file on disk so far (the partial file's length first, then after each chunk). */
  onBytes?: (have: number) => void;
  onVerify?: () => void;
}

/**
 * Makes `file` present in the cache: a blob already there is only linked into the snapshot; otherwise
 * it is downloaded into `<blob>.incomplete` (continuing from its length), verified, renamed into
 * place and linked. Returns the bytes transferred.
 */
export async function downloadFile(file: RemoteFile, opts: DownloadOptions): Promise<number> {
  const { cache, commit } = opts;
  const pointer = cache.pointer(commit, file.path);
  if (hasBlob(cache, file.etag, file.size)) {
    await linkPointer(cache.blob(file.etag), pointer);
    return 0;
  }
  const partial = cache.incomplete(file.etag);
  await mkdir(dirname(partial), { recursive: true });
  if (sizeOf(partial) > file.size) await rm(partial, { force: true });
  const { transferred, hash } = await fetchInto(file, partial, opts);
  opts.onVerify?.();
  const digest = hash.digest('hex');
  if (digest !== file.etag) {
    await rm(partial, { force: true });
    throw new HubError(
      'verify_failed',
      `${file.repo}/${file.path} is corrupt: its ${file.hash === 'sha256' ? 'sha256' : 'git sha1'} is ${digest}, the Hub lists ${file.etag}. The file was deleted; pull again to fetch it anew.`,
      file.path,
    );
  }
  await rename(partial, cache.blob(file.etag));
  await linkPointer(cache.blob(file.etag), pointer);
  return transferred;
}

/** The hash of a partial file's bytes so far, to be continued with the bytes still to come. */
async function hashPrefix(file: RemoteFile, path: string, length: number): Promise<Hash> {
  const hash = newHash(file);
  if (length > 0) await pipeline(createReadStream(path, { start: 0, end: length - 1 }), hash, { end: false });
  return hash;
}

/**
 * GET resolve (redirect not followed), then the location; appends to `partial` from its length,
 * hashing as the bytes arrive (a resumed file's earlier bytes are read once to start the hash).
 */
async function fetchInto(file: RemoteFile, partial: string, opts: DownloadOptions): Promise<{ transferred: number; hash: Hash }> {
  const { config, commit, signal } = opts;
  const url = `${config.endpoint}/${file.repo}/resolve/${encodeURIComponent(commit)}/${file.path.split('/').map(encodeURIComponent).join('/')}`;
  const auth: Record<string, string> = config.token ? { Authorization: `Bearer ${config.token}` } : {};
  for (let attempt = 0; attempt < 2; attempt++) {
    const have = sizeOf(partial);
    opts.onBytes?.(have);
    if (have === file.size) return { transferred: 0, hash: await hashPrefix(file, partial, have) }; // every byte already there: only the check is left
    const range: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
    let res = await request(url, { headers: { ...auth, ...range, 'Accept-Encoding': 'identity' }, redirect: 'manual', signal }, file);
    if (res.status >= 300 && res.status < 400) {
      const linked = normalizeEtag(res.headers.get('X-Linked-Etag'));
      if (linked && linked !== file.etag) {
        throw new HubError('http', `${file.repo}/${file.path} changed on the Hub while pulling (listed ${file.etag}, now ${linked}); pull again`, file.path);
      }
      const location = res.headers.get('Location') ?? '';
      await res.body?.cancel();
      // a relative redirect stays on the Hub (a renamed repository) and keeps the token; the CDN's absolute URL gets none, as in huggingface_hub
      const onHub = !/^[a-z][a-z0-9+.-]*:/i.test(location);
      res = await request(new URL(location, url).href, { headers: { ...(onHub ? auth : {}), ...range, 'Accept-Encoding': 'identity' }, signal }, file);
    }
    if (res.status === 416) {
      // the server has nothing past our length: the partial file is either whole (checked next) or wrong
      await res.body?.cancel();
      if (sizeOf(partial) === file.size) return { transferred: 0, hash: await hashPrefix(file, partial, file.size) };
      await rm(partial, { force: true });
      continue;
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw refusal(config, file.repo, res.status, res.headers.get('X-Error-Code'), file.path);
    }
    let start = 0;
    if (res.status === 206) {
      start = Number(/^bytes (\d+)-/.exec(res.headers.get('Content-Range') ?? '')?.[1] ?? Number.NaN);
      if (start !== have) {
        await res.body?.cancel();
        await rm(partial, { force: true });
        continue;
      }
    }
    if (!res.body) throw new HubError('http', `${config.endpoint} sent no body for ${file.repo}/${file.path}`, file.path);
    // chunk by chunk with awaited writes, so whatever arrived before a cut or a stop is on disk and the next try resumes after it
    let written = start;
    const hash = await hashPrefix(file, partial, start);
    const out = await open(partial, start === 0 ? 'w' : 'a');
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        written += chunk.byteLength;
        if (written > file.size) throw new HubError('http', `${file.repo}/${file.path}: the server sent more than the ${file.size} bytes the Hub lists`, file.path);
        await out.write(chunk);
        hash.update(chunk);
        opts.onBytes?.(written);
      }
      // a body that ends short without an error: kept, and the next try resumes after it
      if (written < file.size) throw new Error(`the connection ended at ${written} of ${file.size} bytes`);
    } catch (error) {
      if (signal?.aborted) throw new HubError('cancelled', `stopped while fetching ${file.repo}/${file.path}; pull again to resume it from ${written} bytes`, file.path);
      throw error;
    } finally {
      await out.close();
    }
    return { transferred: written - start, hash };
  }
  throw new HubError('http', `${config.endpoint} would not serve ${file.repo}/${file.path} from where the partial download ends`, file.path);
}

async function request(url: string, init: RequestInit, file: RemoteFile): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw new HubError('cancelled', `stopped before fetching ${file.repo}/${file.path}`, file.path);
    throw new HubError('http', `could not reach ${new URL(url).origin} for ${file.repo}/${file.path}: ${(error as Error).message}`, file.path);
  }
}
