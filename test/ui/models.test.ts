/**
 * Settings → Model in real headless Chromium, against a real companion whose Hub is the stand-in on
 * 127.0.0.1: the demo-model note points there, the catalog shows size, licence and fit, Download shows
 * progress, Cancel stops it, Resume finishes it (converted into a bundle), and Use switches the
 * companion to it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoBundle } from '../../runtime/demo/cache.ts';
import { findCatalogModel } from '../../runtime/models/catalog.ts';
import { catalogMemory } from '../../runtime/models/memory.ts';
import { loadPipeline } from '../../runtime/pipeline/index.ts';
import { createCompanion, type Companion } from '../../runtime/server/index.ts';
import { SwitchableEngine, type LoadedModel } from '../../runtime/server/switchable-engine.ts';
import { HubStandin } from '../models/helpers/hub-standin.ts';
import { tinyFluxFiles } from '../models/helpers/tiny-repo.ts';
import { byteSize } from '../../ui/format.ts';
import { buildUi, CHROMIUM, chromiumAvailable, launchChromium, openUi, PACKAGE_VERSION, TOKEN } from './harness.ts';

const SHOTS = new URL('../artifacts/ui/', import.meta.url).pathname;
/** The RAM the companion judges "fits" by: between the bf16 models' needs on the CPU and the GGUF ones'. */
const RAM = 32e9;
const TINY_REPO = 'tiny-labs/FLUX.1-tiny';

/** The catalog's FLUX.1 [schnell] files, at the paths the catalog names, with the tiny test checkpoints in them. */
function tinySchnellRepo() {
  const byPath = new Map(tinyFluxFiles().map((f) => [f.path, f]));
  const as = (from: string, path: string) => ({ ...byPath.get(from)!, path });
  return [
    as('flux1-dev.safetensors', 'flux1-schnell.safetensors'),
    as('ae.safetensors', 'ae.safetensors'),
    as('clip_l.safetensors', 'text_encoder/model.safetensors'),
    as('t5xxl_fp16.safetensors', 'text_encoder_2/model.safetensors'),
    ...tinyFluxFiles().filter((f) => f.path.startsWith('tokenizer')),
  ];
}

describe.skipIf(!chromiumAvailable())('Settings → Model in Chromium', () => {
  const hub = new HubStandin();
  let dir = '';
  let browser: Browser;
  let html = '';
  let companion: Companion;
  let engine: SwitchableEngine;
  let url = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dype-ui-models-'));
    hub.addRepo({ id: 'black-forest-labs/FLUX.1-schnell', files: tinySchnellRepo() });
    hub.addRepo({ id: TINY_REPO, files: tinyFluxFiles() });
    await hub.start();
    const load = async (bundle: string): Promise<LoadedModel> => {
      const pipeline = await loadPipeline(bundle, { device: 'cpu' });
      return { engine: pipeline, dir: bundle, dispose: () => pipeline.dispose() };
    };
    engine = new SwitchableEngine(await load(await ensureDemoBundle(join(dir, 'demo'))), load);
    companion = await createCompanion({
      engine,
      dataDir: join(dir, 'data'),
      token: TOKEN,
      port: 0,
      version: PACKAGE_VERSION,
      models: { hub: { endpoint: hub.url }, cacheDir: join(dir, 'hf'), switcher: engine, install: { convert: { hubCache: null } }, sizeTimeoutMs: 3000, memoryBytes: RAM },
    });
    url = await companion.listen();
    [browser, html] = await Promise.all([launchChromium(), buildUi()]);
  });

  afterAll(async () => {
    await browser?.close();
    await companion?.close();
    await engine?.dispose();
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows a pull that was already running when the plugin opened, and cancels it', async () => {
    // the largest file (1.6 MB), slowed to 64 KiB per 500 ms: still arriving while the plugin opens on a busy machine
    const model = `hf:${TINY_REPO}/ae.safetensors`;
    hub.chunkDelayMs = 500;
    try {
      // started elsewhere (another window, or before the plugin was closed and opened again)
      const started = await fetch(`${url}/v1/models/pulls`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ model }) });
      expect(started.status).toBe(202);
      const ui = await openUi(browser, html, { settings: { companionUrl: url, token: TOKEN } });
      await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
      await ui.ui.getByTestId('demo-notice').getByRole('button', { name: 'Get a real model' }).click();
      const bar = ui.ui.getByRole('progressbar', { name: `Download of ${model}` });
      await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThan(0);
      await ui.ui.getByRole('button', { name: `Cancel the download of ${model}` }).click();
      await expect.poll(() => ui.ui.getByTestId('model-pull').textContent(), { timeout: 10_000 }).toMatch(/Stopped at .* Resume continues from there/);
      expect(ui.errors).toEqual([]);
      await ui.close();
    } finally {
      hub.chunkDelayMs = 0;
    }
  });

  it('downloads a catalog model with progress, cancel and resume, then switches the companion to it', async () => {
    const ui = await openUi(browser, html, { settings: { companionUrl: url, token: TOKEN } });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    // only the demo model runs: the Generate panel says so and points to Settings → Model
    const notice = ui.ui.getByTestId('demo-notice');
    await expect.poll(() => notice.textContent()).toMatch(/runs only the demo model/);
    await notice.getByRole('button', { name: 'Get a real model' }).click();
    await ui.ui.getByTestId('active-model').waitFor();
    expect(await ui.ui.getByTestId('active-model').textContent()).toMatch(/demo model/);

    const schnell = ui.ui.locator('[data-model="flux1-schnell"]');
    const schnellText = await schnell.textContent();
    // the size comes from the stand-in Hub's listing; the real FLUX.1 [dev] repository is not on it
    const bytes = tinySchnellRepo().reduce((n, f) => n + f.bytes.byteLength, 0);
    expect(schnellText).toContain(`${(bytes / 1e6).toFixed(1)} MB`);
    expect(schnellText).toMatch(/Apache-2\.0/);
    // the memory planner's least RAM on the CPU provider the companion runs: bf16 is widened to float32, more than 32 GB
    expect(schnellText).toContain(`Needs at least ${byteSize(catalogMemory(findCatalogModel('flux1-schnell')!)!.cpu.ramBytes)} of memory: more than this computer has`);
    expect(await ui.ui.locator('[data-model="flux1-schnell-q4"]').textContent()).toContain(`Fits this computer (needs at least ${byteSize(catalogMemory(findCatalogModel('flux1-schnell-q4')!)!.cpu.ramBytes)} of memory)`);
    expect(await ui.ui.getByText(/This computer has/).textContent()).toBe(`This computer has ${byteSize(RAM)} of memory; what fits is judged on cpu.`);
    expect(await ui.ui.locator('[data-model="flux1-dev"]').textContent()).toMatch(/size unknown.*FLUX\.1 \[dev\] Non-Commercial License.*accept its licence on Hugging Face first/);

    // slow enough that the first checkpoint (552 kB) is still arriving when Cancel is pressed (a partial file to resume)
    hub.chunkDelayMs = 400;
    await ui.ui.getByRole('button', { name: 'Download FLUX.1 [schnell]', exact: true }).click();
    const bar = ui.ui.getByRole('progressbar', { name: 'Download of flux1-schnell' });
    await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThan(0);
    await ui.shot(SHOTS, 'model-download');
    await ui.ui.getByRole('button', { name: 'Cancel the download of flux1-schnell' }).click();
    await expect.poll(() => ui.ui.getByTestId('model-pull').textContent(), { timeout: 10_000 }).toMatch(/Stopped at .* Resume continues from there/);
    const rangesBefore = hub.requests.filter((r) => r.range !== null).length;

    hub.chunkDelayMs = 0;
    await ui.ui.getByRole('button', { name: 'Resume the download of flux1-schnell' }).click();
    await expect.poll(() => ui.ui.getByTestId('model-pull').textContent(), { timeout: 60_000 }).toMatch(/Installed as flux1-schnell/);
    // the resumed file continued from its partial download
    expect(hub.requests.filter((r) => r.range !== null).length).toBeGreaterThan(rangesBefore);

    await ui.ui.getByRole('button', { name: 'Use FLUX.1 [schnell]', exact: true }).click();
    await expect.poll(() => ui.ui.getByTestId('active-model').textContent(), { timeout: 30_000 }).toMatch(/Running FLUX\.1 \[schnell\] · flux1 · bf16 · Apache-2\.0/);
    await expect.poll(() => ui.ui.getByTestId('model').textContent(), { timeout: 10_000 }).toMatch(/^flux1-schnell ·/);
    expect(await ui.ui.getByTestId('demo-notice').count()).toBe(0);
    await ui.shot(SHOTS, 'model-settings');
    expect(ui.errors).toEqual([]);
    await ui.close();
  });
});

if (!chromiumAvailable()) console.warn(`Model UI test skipped: no Chromium at ${CHROMIUM}.`);
