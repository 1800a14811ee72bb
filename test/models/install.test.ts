/**
 * Pull → convert → generate, end to end, as a user runs it: `dype pull hf:owner/repo` (a child process
 * with HF_ENDPOINT pointing at the Hub stand-in) fetches a tiny FLUX.1 repository into the Hugging
 * Face cache and converts it into <data>/models/<name>; `dype info` and `dype generate` then use it.
 * And `dype pull` of gated repositories and single files, Ctrl-C and resume, and `dype models`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatScan, scanCheckpoints } from '../../runtime/convert/scan.ts';
import { formatBytes } from '../../runtime/files/place.ts';
import { findCatalogModel } from '../../runtime/models/catalog.ts';
import { planInstall } from '../../runtime/models/install.ts';
import { activeModelDir, listInstalled, resolveModelRef } from '../../runtime/models/installed.ts';
import { catalogMemory, fitsMachine, thisMachine } from '../../runtime/models/memory.ts';
import { readBundle } from '../../runtime/pipeline/index.ts';
import { tempRoot } from '../convert/helpers/flux-fixtures.ts';
import { HubStandin } from './helpers/hub-standin.ts';
import { tinyFluxFiles } from './helpers/tiny-repo.ts';

const REPO = 'tiny-labs/FLUX.1-tiny';
const GATED = 'tiny-labs/FLUX.1-tiny-gated';
const hub = new HubStandin();
let root = '';
let cleanup = () => {};
let endpoint = '';

beforeAll(async () => {
  ({ root, cleanup } = tempRoot('dype-install-'));
  hub.addRepo({ id: REPO, files: tinyFluxFiles() });
  hub.addRepo({ id: GATED, files: tinyFluxFiles().slice(0, 1), gated: true, granted: ['hf_granted0123456789'] });
  endpoint = await hub.start();
});
afterAll(async () => {
  await hub.close();
  cleanup();
});

const run = promisify(execFile);
describe('pull then convert then generate', () => {
  const dataDir = () => join(root, 'data');
  const cacheDir = () => join(root, 'hf-cache');
  /** The real CLI as a designer runs it, HF_ENDPOINT pointing at the stand-in. */
  const dype = (...args: string[]) => {
    const { DYPE_MODEL: _model, ...env } = process.env;
    return run(process.execPath, ['bin/dype.js', ...args], { env: { ...env, HF_ENDPOINT: endpoint, HF_HUB_CACHE: cacheDir(), DYPE_DATA: dataDir(), HF_TOKEN: '' }, maxBuffer: 1 << 24 });
  };

  it('dype pull hf:owner/repo installs an active bundle that dype info accepts and dype generate runs; a second pull fetches and converts nothing', async () => {
    const first = await dype('pull', `hf:${REPO}`, '--no-progress');
    const dir = join(dataDir(), 'models', 'flux.1-tiny');
    expect(first.stdout).toContain(`model flux.1-tiny → ${dir} (active)`);
    // the bundle's checkpoints are the cache's blobs, hard-linked
    const blob = realpathSync(join(cacheDir(), 'models--tiny-labs--FLUX.1-tiny', 'snapshots', hub.commit(REPO), 'flux1-dev.safetensors'));
    expect(blob).toBe(join(realpathSync(cacheDir()), 'models--tiny-labs--FLUX.1-tiny', 'blobs', hub.sha256(REPO, 'flux1-dev.safetensors')));
    expect(statSync(join(dir, 'transformer', 'flux1-dev.safetensors')).ino).toBe(statSync(blob).ino);
    expect(readBundle(dir).config.name).toBe('flux.1-tiny');
    expect(activeModelDir(dataDir())).toBe(dir);
    expect(resolveModelRef('flux.1-tiny', dataDir())).toBe(dir);
    expect(listInstalled(dataDir()).map((m) => [m.name, m.source?.repos[0].repo])).toEqual([['flux.1-tiny', REPO]]);

    // no --model: the active model, which the pull just made
    const info = await dype('info', '--device', 'cpu');
    expect(info.stdout).toMatch(new RegExp(`^bundle\\s+${dir}\nmodel\\s+flux\\.1-tiny\n`));
    expect(info.stdout).toMatch(/guidance\s+input present \(dev-style\)/);
    const image = join(root, 'pulled.png');
    await dype('generate', '--device', 'cpu', '-p', 'a lighthouse at dusk', '-W', '80', '-H', '64', '--steps', '2', '--seed', '3', '-o', image, '--no-progress');
    const pixels = await sharp(image).raw().toBuffer({ resolveWithObject: true });
    expect([pixels.info.width, pixels.info.height]).toEqual([80, 64]);
    expect(new Set(pixels.data).size).toBeGreaterThan(8);

    hub.requests.length = 0;
    const second = await dype('pull', `hf:${REPO}`, '--no-progress');
    expect(second.stdout).toMatch(/^pulled 0 bytes \(8 file\(s\)[^\n]*\nmodel flux\.1-tiny → [^\n]*flux\.1-tiny \(active\)$/m);
    expect(second.stderr).not.toMatch(/convert/i);
    expect(hub.requests.filter((r) => r.path.startsWith('/cdn/') || r.path.includes('/resolve/'))).toEqual([]);

    // dype convert --scan finds the pulled checkpoints in the cache
    const scanned = formatScan([cacheDir()], await scanCheckpoints([cacheDir()]));
    expect(scanned).toMatch(/FLUX\.1 transformer.*flux1-dev\.safetensors/);
  });

  it('catalog names, hf: files and unknown names', () => {
    expect(planInstall('flux1-schnell')).toMatchObject({ name: 'flux1-schnell', selections: [{ repo: 'black-forest-labs/FLUX.1-schnell' }] });
    expect(planInstall(`hf:${REPO}/ae.safetensors`)).toEqual({ name: null, catalog: null, selections: [{ repo: REPO, paths: ['ae.safetensors'] }] });
    expect(() => planInstall('flux9')).toThrow(/"flux9" is not in the catalog \(flux1-schnell, flux1-dev/);
    expect(() => planInstall('hf:nope')).toThrow(/is not hf:<owner>\/<repo>/);
  });
});

describe('dype pull and dype models (child processes)', () => {
  const dype = (env: Record<string, string>, ...args: string[]) =>
    run(process.execPath, ['bin/dype.js', ...args], { env: { ...process.env, HF_ENDPOINT: endpoint, HF_HUB_CACHE: join(root, 'cli-cache'), DYPE_DATA: join(root, 'cli-data'), HF_TOKEN: '', ...env }, maxBuffer: 1 << 24 });

  it('a gated repository exits non-zero naming the model page; a granted --token pulls it', async () => {
    const refused = await dype({}, 'pull', `hf:${GATED}`, '--no-progress').catch((e: { code: number; stderr: string }) => e);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining(`sign in at ${endpoint}/${GATED} and accept its licence`) });
    const granted = await dype({}, 'pull', `hf:${GATED}/flux1-dev.safetensors`, '--token', 'hf_granted0123456789', '--no-progress');
    expect(granted.stdout).toMatch(/pulled .* \(1 file\(s\)/);
  });

  it('hf:owner/repo/path into HF_HUB_CACHE from HF_ENDPOINT: Ctrl-C stops it keeping the partial file; the same command resumes it with a Range request', async () => {
    const env = { ...process.env, HF_ENDPOINT: endpoint, HF_HUB_CACHE: join(root, 'cli-sigint'), DYPE_DATA: join(root, 'cli-data'), HF_TOKEN: '' };
    const args = ['bin/dype.js', 'pull', `hf:${REPO}/flux1-dev.safetensors`, '--no-progress'];
    const blobs = join(root, 'cli-sigint', 'models--tiny-labs--FLUX.1-tiny', 'blobs');
    hub.chunkDelayMs = 100;
    try {
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await expect.poll(() => (existsSync(blobs) ? readdirSync(blobs).some((b) => b.endsWith('.incomplete') && statSync(join(blobs, b)).size > 0) : false), { timeout: 20_000, interval: 50 }).toBe(true);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toContain(`stopped. Run the same command to resume: dype pull hf:${REPO}/flux1-dev.safetensors`);
    } finally {
      hub.chunkDelayMs = 0;
    }
    hub.requests.length = 0;
    const { stdout } = await run(process.execPath, args, { env });
    expect(stdout).toMatch(/pulled [\d.]+ KiB \(1 file\(s\) in .*cli-sigint\/models--tiny-labs--FLUX\.1-tiny\/snapshots\//);
    expect(existsSync(join(root, 'cli-sigint', 'models--tiny-labs--FLUX.1-tiny', 'snapshots', hub.commit(REPO), 'flux1-dev.safetensors'))).toBe(true);
    expect(hub.downloads('flux1-dev.safetensors').map((r) => r.range)).toEqual([expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    expect(readdirSync(blobs)).toEqual([hub.sha256(REPO, 'flux1-dev.safetensors')]);
  });

  it('dype models lists the catalog with licence and what fits, and the active model', async () => {
    const { stdout } = await dype({}, 'models');
    expect(stdout).toMatch(/no active model: npm start uses the embedded demo model/);
    // the memory planner's least memory per provider; "fits" judged on CUDA where nvidia-smi finds a GPU, else the CPU
    const need = catalogMemory(findCatalogModel('flux1-schnell')!)!;
    const here = await thisMachine();
    const fits = fitsMachine(findCatalogModel('flux1-schnell')!, here.machine, here.provider) ? 'fits' : 'too big';
    expect(stdout).toContain(
      `flux1-schnell        FLUX.1 [schnell]                       Apache-2.0; 1024² px, 4 steps; needs ≥ ${formatBytes(need.cpu.ramBytes)} RAM on the CPU, or ${formatBytes(need.gpu.gpuBytes)} GPU + ${formatBytes(need.gpu.ramBytes)} RAM: ${fits}`,
    );
    expect(stdout).toContain(`of RAM${here.machine.gpuBytes === null ? '' : ` and ${formatBytes(here.machine.gpuBytes)} of GPU memory (nvidia-smi)`}; what fits is judged on ${here.provider} by the memory planner:`);
    expect(stdout).toMatch(/flux1-dev\s+FLUX\.1 \[dev\]\s+FLUX\.1 \[dev\] Non-Commercial License \(gated: accept on its page\); 1024² px, 28 steps/);
  });
});
