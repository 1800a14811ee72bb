/** dype pull against the Hub stand-in (a real HTTP server on 127.0.0.1): cache layout, resume, verification, gating, disk space. */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HubError, hubConfigFromEnv, type HubConfig } from '../../runtime/models/hub.ts';
import { pull, type PullEvent } from '../../runtime/models/pull.ts';
import { repoCache } from '../../runtime/models/hf-cache.ts';
import { tempRoot } from '../convert/helpers/flux-fixtures.ts';
import { HubStandin } from './helpers/hub-standin.ts';
import { TINY_PULLED, tinyFluxFiles } from './helpers/tiny-repo.ts';

const REPO = 'tiny-labs/FLUX.1-tiny';
const GATED = 'tiny-labs/FLUX.1-tiny-gated';
const GRANTED = 'hf_granted0123456789';
const hub = new HubStandin();
let root = '';
let cleanup = () => {};
let config: HubConfig;
let cacheN = 0;
/** A fresh cache per test unless one is given. */
const newCache = () => join(root, `cache-${cacheN++}`);
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(async () => {
  ({ root, cleanup } = tempRoot('dype-pull-'));
  hub.addRepo({ id: REPO, files: tinyFluxFiles() });
  hub.addRepo({ id: GATED, files: tinyFluxFiles().slice(0, 2), gated: true, granted: [GRANTED] });
  config = { endpoint: await hub.start() };
});
afterAll(async () => {
  await hub.close();
  cleanup();
});
beforeEach(() => {
  hub.requests.length = 0;
  hub.cutAfter = null;
  hub.corrupt = null;
});

describe('Hub settings from the environment', () => {
  it('HF_ENDPOINT sets the base URL, HF_TOKEN the token, and --token wins over HF_TOKEN', () => {
    expect(hubConfigFromEnv({})).toEqual({ endpoint: 'https://huggingface.co' });
    expect(hubConfigFromEnv({ HF_ENDPOINT: 'http://127.0.0.1:9/', HF_TOKEN: 'hf_env' })).toEqual({ endpoint: 'http://127.0.0.1:9', token: 'hf_env' });
    expect(hubConfigFromEnv({ HF_TOKEN: 'hf_env' }, 'hf_flag')).toEqual({ endpoint: 'https://huggingface.co', token: 'hf_flag' });
    expect(hubConfigFromEnv({ HF_TOKEN: '' })).toEqual({ endpoint: 'https://huggingface.co' });
  });
});

describe('dype pull hf:owner/repo', () => {
  it('fetches the checkpoints and tokenizer folders into the Hugging Face cache layout, paging through the tree', async () => {
    const cache = newCache();
    const result = await pull(config, [{ repo: REPO }], cache);
    const commit = hub.commit(REPO);
    const layout = repoCache(cache, REPO);
    expect(layout.root).toBe(join(cache, 'models--tiny-labs--FLUX.1-tiny'));
    expect(result.plan.files.map((f) => f.path).sort()).toEqual([...TINY_PULLED].sort());
    expect(readFileSync(join(layout.root, 'refs', 'main'), 'utf8')).toBe(commit);
    for (const path of TINY_PULLED) {
      const pointer = layout.pointer(commit, path);
      expect(lstatSync(pointer).isSymbolicLink()).toBe(true);
      // relative, as huggingface_hub writes it, so the cache can be moved
      expect(readlinkSync(pointer).startsWith('../')).toBe(true);
    }
    // LFS blobs are named by their sha256 and hold exactly the bytes the stand-in serves
    const transformer = layout.pointer(commit, 'flux1-dev.safetensors');
    expect(sha256(transformer)).toBe(hub.sha256(REPO, 'flux1-dev.safetensors'));
    expect(readdirSync(join(layout.root, 'blobs'))).toContain(hub.sha256(REPO, 'flux1-dev.safetensors'));
    expect(readdirSync(join(layout.root, 'blobs')).filter((b) => b.endsWith('.incomplete'))).toEqual([]);
    // the listing came in pages of 2 (Link: rel="next"), and the diffusers transformer/ was not fetched
    expect(hub.requests.filter((r) => r.path.includes('/tree/')).length).toBe(Math.ceil(tinyFluxFiles().length / hub.pageSize));
    expect(hub.downloads('transformer/diffusion_pytorch_model.safetensors')).toEqual([]);
    expect(result.transferredBytes).toBe(result.plan.totalBytes);

    // a second pull fetches nothing
    hub.requests.length = 0;
    const again = await pull(config, [{ repo: REPO }], cache);
    expect(again.transferredBytes).toBe(0);
    expect(again.plan.neededBytes).toBe(0);
    expect(hub.requests.filter((r) => r.path.startsWith('/cdn/') || r.path.includes('/resolve/'))).toEqual([]);
  });

  it('hf:owner/repo/path fetches that one file', async () => {
    const cache = newCache();
    const result = await pull(config, [{ repo: REPO, paths: ['ae.safetensors'] }], cache);
    expect(result.paths).toEqual([repoCache(cache, REPO).pointer(hub.commit(REPO), 'ae.safetensors')]);
    await expect(pull(config, [{ repo: REPO, paths: ['nope.safetensors'] }], cache)).rejects.toThrow(/tiny-labs\/FLUX\.1-tiny has no file nope\.safetensors/);
  });

  it('a download cut mid-file continues with a Range request from the partial file and ends verified', async () => {
    const cache = newCache();
    hub.cutAfter = { path: 'flux1-dev.safetensors', bytes: 300_000 };
    // one try per file: the cut ends this pull, leaving the partial file
    await expect(pull(config, [{ repo: REPO }], cache, { attempts: 1 })).rejects.toThrow();
    const layout = repoCache(cache, REPO);
    const etag = hub.sha256(REPO, 'flux1-dev.safetensors');
    // what arrived before the cut (the last bytes in flight may be lost with the socket)
    const kept = statSync(layout.incomplete(etag)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(300_000);

    hub.requests.length = 0;
    const events: PullEvent[] = [];
    const result = await pull(config, [{ repo: REPO }], cache, { onEvent: (e) => events.push(e) });
    const fetches = hub.downloads('flux1-dev.safetensors');
    expect(fetches.map((r) => [r.range, r.status])).toEqual([[`bytes=${kept}-`, 206]]);
    expect(sha256(layout.pointer(hub.commit(REPO), 'flux1-dev.safetensors'))).toBe(etag);
    expect(existsSync(layout.incomplete(etag))).toBe(false);
    const plan = events.find((e) => e.kind === 'plan');
    expect(plan?.kind === 'plan' && plan.files.find((f) => f.path === 'flux1-dev.safetensors')?.have).toBe(kept);
    expect(events.some((e) => e.kind === 'verify' && e.path === 'flux1-dev.safetensors')).toBe(true);
    // only the rest crossed the wire
    const size = statSync(layout.blob(etag)).size;
    expect(result.transferredBytes).toBe(result.plan.totalBytes - kept);
    expect(size).toBe(readFileSync(join(layout.snapshot(hub.commit(REPO)), 'flux1-dev.safetensors')).length);
  });

  it('a dropped connection is tried again within the same pull, resuming from where it broke', async () => {
    const cache = newCache();
    hub.cutAfter = { path: 'ae.safetensors', bytes: 500_000 };
    const events: PullEvent[] = [];
    await pull(config, [{ repo: REPO }], cache, { onEvent: (e) => events.push(e) });
    expect(events.filter((e) => e.kind === 'retry').map((e) => e.kind === 'retry' && e.path)).toEqual(['ae.safetensors']);
    const ranges = hub.downloads('ae.safetensors').map((r) => r.range);
    expect(ranges).toHaveLength(2);
    expect(ranges[0]).toBeNull();
    expect(Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1])).toBeGreaterThan(0);
    expect(sha256(repoCache(cache, REPO).pointer(hub.commit(REPO), 'ae.safetensors'))).toBe(hub.sha256(REPO, 'ae.safetensors'));
  });

  it('a stopped pull (AbortSignal, as Ctrl-C) keeps the partial file, and the next pull resumes it', async () => {
    const cache = newCache();
    const controller = new AbortController();
    const stop = (e: PullEvent) => {
      if (e.kind === 'file' && e.path === 'flux1-dev.safetensors' && e.have > 0) controller.abort();
    };
    await expect(pull(config, [{ repo: REPO }], cache, { signal: controller.signal, onEvent: stop })).rejects.toMatchObject({ code: 'cancelled' });
    const etag = hub.sha256(REPO, 'flux1-dev.safetensors');
    const kept = statSync(repoCache(cache, REPO).incomplete(etag)).size;
    expect(kept).toBeGreaterThan(0);
    hub.requests.length = 0;
    await pull(config, [{ repo: REPO }], cache);
    expect(hub.downloads('flux1-dev.safetensors').map((r) => r.range)).toEqual([`bytes=${kept}-`]);
    expect(sha256(repoCache(cache, REPO).blob(etag))).toBe(etag);
  });

  it('a corrupted byte is caught by the sha256 check: the file is deleted and the error names it', async () => {
    const cache = newCache();
    hub.corrupt = { path: 't5xxl_fp16.safetensors', at: 1234 };
    const error = await pull(config, [{ repo: REPO }], cache).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubError);
    expect((error as HubError).code).toBe('verify_failed');
    expect((error as HubError).file).toBe('t5xxl_fp16.safetensors');
    expect((error as Error).message).toMatch(/t5xxl_fp16\.safetensors is corrupt: its sha256 is [0-9a-f]{64}, the Hub lists [0-9a-f]{64}\. The file was deleted/);
    const layout = repoCache(cache, REPO);
    const etag = hub.sha256(REPO, 't5xxl_fp16.safetensors');
    expect(existsSync(layout.incomplete(etag))).toBe(false);
    expect(existsSync(layout.blob(etag))).toBe(false);
    expect(existsSync(layout.pointer(hub.commit(REPO), 't5xxl_fp16.safetensors'))).toBe(false);
    // small git files are checked too, against their git blob sha1
    hub.corrupt = { path: 'tokenizer/tokenizer.json', at: 10 };
    await expect(pull(config, [{ repo: REPO, paths: ['tokenizer/'] }], newCache())).rejects.toThrow(/tokenizer\/tokenizer\.json is corrupt: its git sha1 is/);
  });

  it('a gated repository names the model page, and succeeds with a granted token', async () => {
    const cache = newCache();
    const page = `${config.endpoint}/${GATED}`;
    await expect(pull(config, [{ repo: GATED }], cache)).rejects.toMatchObject({ code: 'gated', message: expect.stringContaining(`sign in at ${page} and accept its licence`) });
    await expect(pull({ ...config, token: 'hf_not_granted_yet_000' }, [{ repo: GATED }], cache)).rejects.toMatchObject({
      code: 'gated',
      message: expect.stringContaining(`the token given has no access to it yet: sign in at ${page}`),
    });
    const result = await pull({ ...config, token: GRANTED }, [{ repo: GATED }], cache);
    expect(result.paths).toHaveLength(2);
    // the token went to the Hub, never to the CDN path
    expect(hub.requests.filter((r) => r.path.startsWith('/cdn/') && r.auth !== null)).toEqual([]);
    expect(hub.requests.some((r) => r.path.includes('/resolve/') && r.auth === `Bearer ${GRANTED}`)).toBe(true);
  });

  it('a disk too small is reported before anything is fetched', async () => {
    const cache = newCache();
    const error = await pull(config, [{ repo: REPO }], cache, { freeBytes: async () => 1_000_000 }).catch((e: unknown) => e);
    expect((error as HubError).code).toBe('disk_full');
    expect((error as Error).message).toMatch(/not enough disk space in .*cache-\d+: the pull needs \d\.\d MiB more \(plus 256\.0 MiB kept free\), 976\.6 KiB is free\. .*Nothing was downloaded/);
    expect(hub.requests.filter((r) => r.path.startsWith('/cdn/') || r.path.includes('/resolve/'))).toEqual([]);
    expect(existsSync(join(cache, 'models--tiny-labs--FLUX.1-tiny'))).toBe(false);
  });

  it('a listing whose path would leave the cache is refused before anything is written', async () => {
    hub.addRepo({ id: 'tiny-labs/escape', files: [{ path: '../../outside.safetensors', bytes: new Uint8Array(8), lfs: true }] });
    const cache = newCache();
    await expect(pull(config, [{ repo: 'tiny-labs/escape' }], cache)).rejects.toThrow(/tiny-labs\/escape lists a file path that leaves the repository: "\.\.\/\.\.\/outside\.safetensors"/);
    expect(existsSync(cache)).toBe(false);
  });

  it('an unknown repository says so', async () => {
    await expect(pull(config, [{ repo: 'nobody/nothing' }], newCache())).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('nobody/nothing was not found') });
  });
});
