/**
 * The built UI in real headless Chromium, against a real companion with the demo model on localhost
 * (port 0), with FakeMain playing the plugin's main thread over postMessage. Screenshots of the main
 * states go to test/artifacts/ui/.
 */
import { createServer as createHttpServer } from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PREVIEW_FORWARD_MS, type ImageResult, type JobView, type UiToMainOf } from '../../runtime/contract/index.ts';
import { chromiumAvailable, CHROMIUM, buildUi, closedPort, launchChromium, openUi, PACKAGE_VERSION, startDemoCompanion, TOKEN, type DemoCompanion, type UiPage } from './harness.ts';
import type { Browser } from 'playwright-core';

const SHOTS = new URL('../artifacts/ui/', import.meta.url).pathname;

/** Reassembles the tiles into one raw RGB buffer, checking each tile's PNG size on the way. */
async function assemble(image: ImageResult): Promise<Buffer> {
  const composite = await Promise.all(
    image.tiles.map(async (tile) => {
      const meta = await sharp(tile.bytes).metadata();
      expect([meta.width, meta.height]).toEqual([tile.width, tile.height]);
      return { input: Buffer.from(tile.bytes), left: tile.x, top: tile.y };
    }),
  );
  return sharp({ create: { width: image.width, height: image.height, channels: 3, background: '#000' } }).composite(composite).removeAlpha().raw().toBuffer();
}

if (!chromiumAvailable()) console.warn(`UI tests skipped: no Chromium at ${CHROMIUM} (install the "chromium" package or set CHROMIUM_PATH).`);

describe.skipIf(!chromiumAvailable())('plugin UI in Chromium against a real companion', () => {
  let demo: DemoCompanion;
  let browser: Browser;
  let html: string;
  const open: UiPage[] = [];

  beforeAll(async () => {
    [demo, browser, html] = await Promise.all([startDemoCompanion(), launchChromium(), buildUi()]);
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  async function openPage(options: Parameters<typeof openUi>[2] = {}): Promise<UiPage> {
    const ui = await openUi(browser, html, options);
    open.push(ui);
    return ui;
  }

  async function finish(ui: UiPage): Promise<void> {
    expect(ui.errors).toEqual([]);
    await ui.close();
  }

  it('says plainly when the companion is not running, and how to start it', async () => {
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const ui = await openPage({ settings: { companionUrl: closed, token: TOKEN, prompt: 'a lighthouse' }, testOrigins: [closed, demo.url] });
    await ui.ui.getByRole('heading', { name: 'Companion not running' }).waitFor();
    await expect(ui.ui.getByRole('status').first().textContent()).resolves.toMatch(/^Nothing answers at http:\/\/127\.0\.0\.1:\d+\.$/);
    expect(await ui.ui.locator('.hint code').textContent()).toBe('npm start');
    expect(await ui.ui.getByRole('button', { name: 'Generate' }).isDisabled()).toBe(true);
    expect(await ui.ui.getByText('Connect to the companion first.').isVisible()).toBe(true);
    await ui.shot(SHOTS, 'not-running');

    // jobs handed over while it is down (e.g. from a relaunch button) fail in plain words
    await ui.main.send({ type: 'start-jobs', jobs: [{ jobId: 'offline-1', nodeId: '9:1', frameName: 'Offline', body: { id: 'offline-1', prompt: 'p', width: 64, height: 64, seed: 1, method: 'dy-yarn', format: 'png' } }] });
    const ended = await ui.main.waitFor('job-ended', (m) => m.jobId === 'offline-1');
    expect(ended).toMatchObject({ outcome: 'failed', message: expect.stringMatching(/^The companion is not running at http:\/\/127\.0\.0\.1:\d+\. Start it with “npm start”/) });

    // pointing it at the running companion connects (the token is right)
    await ui.ui.getByLabel('Companion URL').fill(demo.url);
    await ui.ui.getByRole('button', { name: 'Connect' }).click();
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    expect((await ui.main.waitFor('save-settings', (m) => m.patch.companionUrl === demo.url)).patch).toEqual({ companionUrl: demo.url });
    await finish(ui);
  });

  it('says when the service at the URL is not a compatible companion: another major version, or fields missing', async () => {
    const real = (await (await fetch(`${demo.url}/v1/health`)).json()) as Record<string, unknown>;
    expect(real.version).toBe(PACKAGE_VERSION);
    let health: Record<string, unknown> = { ok: true, version: '0.0.1' };
    const other = createHttpServer((req, res) => {
      res.writeHead(req.url === '/v1/health' ? 200 : 404, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
      res.end(req.url === '/v1/health' ? JSON.stringify(health) : '{}');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const ui = await openPage({ settings: { companionUrl: `http://127.0.0.1:${(other.address() as { port: number }).port}`, token: TOKEN } });
      await ui.ui.getByRole('heading', { name: 'Incompatible companion' }).waitFor();
      expect(await ui.ui.getByRole('status').first().textContent()).toBe('Incompatible companion (version 0.0.1, need 0.x): its health check lacks model, demo, nativeResolution, pixelsPerToken, minSide, maxSide, maxPixels, maxSteps, provider, defaultSteps, defaultGuidance, methods, formats, queueLength, queue.');

      // everything this UI needs, but a newer major version
      health = { ...real, version: '1.2.0' };
      await ui.ui.getByRole('button', { name: 'Retry' }).click();
      await expect.poll(() => ui.ui.getByRole('status').first().textContent()).toBe('Incompatible companion (version 1.2.0, need 0.x).');
      await finish(ui);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('accepts only the companion addresses the manifest allows, and says what another port or an IP address needs', async () => {
    const ui = await openPage({ settings: { companionUrl: 'http://localhost:9999', token: TOKEN }, testOrigins: [] });
    await ui.ui.getByRole('heading', { name: 'Address not allowed' }).waitFor();
    const why = 'Figma lets this plugin reach only http://localhost:7860, the addresses in its manifest. To use http://localhost:9999, add it to networkAccess.allowedDomains in manifest.json, rebuild the plugin and start the companion with “npm start -- --port 9999”.';
    expect(await ui.ui.getByRole('status').first().textContent()).toBe(why);
    expect(await ui.ui.getByRole('button', { name: 'Retry' }).isDisabled()).toBe(true);

    const field = ui.ui.getByLabel('Companion URL');
    await field.fill('http://localhost:9000');
    expect(await ui.ui.getByRole('button', { name: 'Connect' }).isDisabled()).toBe(true);
    expect(await ui.ui.locator('#companion-url-problem').textContent()).toMatch(/^Figma lets this plugin reach only .* To use http:\/\/localhost:9000, add it .*“npm start -- --port 9000”\.$/);
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    await ui.shot(SHOTS, 'address-not-allowed');
    await field.fill('http://192.168.1.20:7860');
    expect(await ui.ui.locator('#companion-url-problem').textContent()).toBe('The companion runs on this computer only: use http://localhost:7860.');
    // Figma's manifest cannot list an IP literal, so its Content-Security-Policy would block these
    for (const [ip, named] of [['http://127.0.0.1:7860', 'http://localhost:7860'], ['http://[::1]:7861', 'http://localhost:7861']]) {
      await field.fill(ip);
      expect(await ui.ui.getByRole('button', { name: 'Connect' }).isDisabled()).toBe(true);
      expect(await ui.ui.locator('#companion-url-problem').textContent()).toBe(`Figma lets plugins reach this computer only as localhost: use ${named}.`);
    }
    for (const allowed of ['http://localhost:7860', 'http://localhost:7860/']) {
      await field.fill(allowed);
      expect(await ui.ui.getByRole('button', { name: 'Connect' }).isDisabled()).toBe(false);
      expect(await ui.ui.locator('#companion-url-problem').count()).toBe(0);
    }
    await field.fill('not a url');
    expect(await ui.ui.locator('#companion-url-problem').textContent()).toBe('Use an address like http://localhost:7860.');
    await finish(ui);
  });

  it('says the token is wrong and pairs again with the printed code', async () => {
    const ui = await openPage({ settings: { companionUrl: demo.url, token: 'not-the-right-token-at-all' } });
    await ui.ui.getByRole('heading', { name: 'Wrong token' }).waitFor();
    expect(await ui.ui.getByRole('status').first().textContent()).toMatch(/did not accept the saved token/);
    await ui.shot(SHOTS, 'wrong-token');

    // a wrong code first: the companion's own words
    await ui.ui.getByLabel('Pairing code').fill('AAAA-AAAA');
    await ui.ui.getByRole('button', { name: 'Pair' }).click();
    await expect(ui.ui.getByRole('alert').textContent()).resolves.toMatch(/Wrong pairing code/);

    await ui.ui.getByLabel('Pairing code').fill(demo.pairingCode.toLowerCase());
    await ui.ui.getByLabel('Pairing code').press('Enter');
    expect((await ui.main.waitFor('save-settings', (m) => m.patch.token !== undefined)).patch).toEqual({ token: TOKEN });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await finish(ui);
  });

  it('pairs on first use and reports the companion’s limits to the main thread', async () => {
    const ui = await openPage({ settings: { companionUrl: demo.url, token: null } });
    await ui.ui.getByRole('heading', { name: 'Not paired yet' }).waitFor();
    await ui.shot(SHOTS, 'unpaired');
    await ui.ui.getByLabel('Pairing code').fill(demo.pairingCode);
    await ui.ui.getByRole('button', { name: 'Pair' }).click();
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    const limits = await ui.main.waitFor('limits', (m) => m.limits !== null);
    const { nativeResolution } = (await (await fetch(`${demo.url}/v1/health`)).json()) as { nativeResolution: number };
    expect(limits.limits).toEqual({ minSide: demo.companion.limits.minSide, maxSide: demo.companion.limits.maxSide, maxPixels: demo.companion.limits.maxPixels, nativeSide: nativeResolution });
    expect(await ui.ui.getByTestId('model').textContent()).toMatch(/dype-demo \(demo\)/);
    await finish(ui);
  });

  it('generates: pixel size shown first, progress with preview, image bytes of the exact size', async () => {
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN, seed: 5, seedLocked: true }, frames: [{ id: '1:2', name: 'Hero', width: 480, height: 320 }] });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    expect(await ui.ui.getByTestId('targets').textContent()).toContain('480 × 320 pt → 960 × 640 px · 0.6 MP');
    await ui.ui.getByRole('radio', { name: '3×' }).check();
    await ui.main.waitFor('save-settings', (m) => m.patch.density?.kind === 'scale' && m.patch.density.scale === 3);
    await expect.poll(() => ui.ui.getByTestId('targets').textContent()).toContain('1440 × 960 px · 1.4 MP');

    await ui.ui.getByLabel('Prompt').fill('a misty forest at dawn');
    await ui.ui.getByText('Advanced').click();
    await ui.ui.getByLabel('Steps').fill('60');
    await ui.ui.getByLabel('Steps').press('Tab');
    expect(await ui.ui.locator('#method-help').textContent()).toMatch(/YaRN/);
    await ui.shot(SHOTS, 'ready-to-generate');
    await ui.ui.getByText('Advanced').click();
    await ui.ui.getByRole('button', { name: 'Generate' }).click();

    const generate = await ui.main.waitFor('generate');
    expect(generate.params).toMatchObject({ prompt: 'a misty forest at dawn', seed: 5, steps: 60, method: 'dy-yarn', density: { kind: 'scale', scale: 3 }, format: 'png' });
    const [job] = ui.main.started;
    expect([job.body.width, job.body.height]).toEqual([1440, 960]);

    const preview = await ui.main.waitFor('job-preview', (m) => m.jobId === job.jobId);
    expect((await sharp(preview.png).metadata()).format).toBe('png');
    await ui.ui.getByRole('img', { name: 'Live preview of Hero' }).waitFor();
    await expect.poll(() => ui.ui.locator(`[data-job="${job.jobId}"]`).textContent()).toMatch(/Step \d+ of 60/);
    expect(Number(await ui.ui.getByRole('progressbar', { name: 'Progress of Hero' }).getAttribute('aria-valuenow'))).toBeGreaterThan(0);
    await ui.shot(SHOTS, 'progress');

    const result = await ui.main.waitFor('job-result', (m) => m.jobId === job.jobId, 60_000);
    // the companion sends a preview per step (previewIntervalMs 0); the main thread gets at most one a second
    const previewTimes = ui.main.received.flatMap((m, i) => (m.type === 'job-preview' && m.jobId === job.jobId ? [ui.main.receivedAt[i]] : []));
    expect(previewTimes.length).toBeGreaterThan(0);
    for (let i = 1; i < previewTimes.length; i++) expect(previewTimes[i] - previewTimes[i - 1]).toBeGreaterThan(PREVIEW_FORWARD_MS - 150);
    expect(result.image.tiles).toHaveLength(1);
    const meta = await sharp(result.image.tiles[0].bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1440, 960]);
    expect(result.meta).toMatchObject({ jobId: job.jobId, prompt: 'a misty forest at dawn', seed: 5, steps: 60, method: 'dy-yarn', model: 'dype-demo' });
    // the bytes are the companion's image
    const stored = await fetch(`${demo.url}/v1/jobs/${job.jobId}/image`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(Buffer.from(result.image.tiles[0].bytes).equals(Buffer.from(await stored.arrayBuffer()))).toBe(true);

    await ui.ui.getByText('Placed in “Hero”.').waitFor();
    await ui.shot(SHOTS, 'done');
    await finish(ui);
  });

  it('generates a 4096×1024 banner with DyPE Vision-YaRN, showing the λt auto picks before generating', async () => {
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN, prompt: 'a wide banner', steps: 1, density: { kind: 'scale', scale: 2 } }, frames: [{ id: '1:9', name: 'Banner', width: 2048, height: 512 }] });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.ui.getByText('Advanced').click();
    await ui.ui.getByLabel('Method').selectOption('dy-vision-yarn');
    expect(await ui.ui.locator('#method-help').textContent()).toMatch(/banners/);
    expect(await ui.ui.getByTestId('dype-exponent').textContent()).toBe('λt 2 at 4.0× native'); // the model default, λt = 2
    await ui.ui.getByLabel('DyPE fade λt').selectOption('auto');
    await ui.ui.getByLabel('DyPE strength λs').fill('9');
    await ui.ui.getByLabel('DyPE strength λs').press('Tab');
    await ui.ui.getByRole('alert').filter({ hasText: 'λs must be a number from 0 to 8.' }).waitFor();
    await ui.ui.getByLabel('DyPE strength λs').fill('1.5');
    await ui.ui.getByLabel('DyPE strength λs').press('Tab');
    await expect.poll(() => ui.ui.getByTestId('dype-exponent').textContent()).toBe('λt 2 (auto) at 4.0× native');
    await ui.main.waitFor('save-settings', (m) => m.patch.dypeScale === 1.5);
    await ui.shot(SHOTS, 'dype-controls');
    await ui.ui.getByRole('button', { name: 'Generate' }).click();

    const generate = await ui.main.waitFor('generate');
    expect(generate.params).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 'auto' });
    const [job] = ui.main.started;
    expect(job.body).toMatchObject({ width: 4096, height: 1024, method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 'auto' });
    const result = await ui.main.waitFor('job-result', (m) => m.jobId === job.jobId, 60_000);
    expect([result.image.width, result.image.height]).toEqual([4096, 1024]);
    expect(result.meta).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 'auto' });
    const record = (await (await fetch(`${demo.url}/v1/jobs/${job.jobId}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { result: Record<string, unknown> };
    expect(record.result).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 2, dypeExponentAuto: true });
    await finish(ui);
  });

  it('shows the VAE decode after the last step, part by part', async () => {
    // 4096² px is 8×8 demo tiles: a couple of seconds of decoding after a single step
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN, prompt: 'big', steps: 1, density: { kind: 'scale', scale: 2 } }, frames: [{ id: '1:4', name: 'Poster', width: 2048, height: 2048 }] });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.ui.getByRole('button', { name: 'Generate' }).click();
    const [job] = await expect.poll(() => ui.main.started).toHaveLength(1).then(() => ui.main.started);
    await expect.poll(() => ui.ui.locator(`[data-job="${job.jobId}"]`).textContent(), { timeout: 30_000, interval: 50 }).toMatch(/Decoding the image · part \d+ of \d+/);
    const result = await ui.main.waitFor('job-result', (m) => m.jobId === job.jobId, 60_000);
    expect([result.image.width, result.image.height]).toEqual([4096, 4096]);
    await finish(ui);
  });

  it('cuts results above 4096 px into ≤ 4096 px tiles that rebuild the image exactly', async () => {
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN, prompt: 'wide banner', steps: 2, density: { kind: 'scale', scale: 2 } }, frames: [{ id: '1:3', name: 'Banner', width: 2200, height: 48 }] });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    expect(await ui.ui.getByTestId('targets').textContent()).toMatch(/4400 × 96 px.*placed as 2 tiles/);
    await ui.ui.getByRole('button', { name: 'Generate' }).click();
    const result = await ui.main.waitFor('job-result', () => true, 60_000);
    expect(result.image.width).toBe(4400);
    expect(result.image.tiles.map((t) => [t.x, t.y, t.width, t.height])).toEqual([
      [0, 0, 2200, 96],
      [2200, 0, 2200, 96],
    ]);
    const rebuilt = await assemble(result.image);
    const stored = await fetch(`${demo.url}/v1/jobs/${result.jobId}/image`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const original = await sharp(Buffer.from(await stored.arrayBuffer())).removeAlpha().raw().toBuffer();
    expect(rebuilt.equals(original)).toBe(true);
    await finish(ui);
  });

  it('queues several frames on the companion (no second queue in the UI) and cancels them all', async () => {
    const ui = await openPage({
      settings: { companionUrl: demo.url, token: TOKEN, prompt: 'slow one', steps: 100, density: { kind: 'scale', scale: 1 } },
      frames: [
        // long enough (100 steps at 8 MP) that it is still running when Cancel all arrives on a busy machine
        { id: '1:4', name: 'Poster A', width: 2048, height: 4096 },
        { id: '1:5', name: 'Poster B', width: 512, height: 768 },
      ],
    });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.ui.getByRole('button', { name: 'Generate 2 images' }).click();
    const [a, b] = await (async () => {
      await ui.main.waitFor('generate');
      return ui.main.started;
    })();
    await ui.main.waitFor('job-preview', (m) => m.jobId === a.jobId, 30_000);
    // B waits in the companion's queue, behind A
    await expect.poll(() => ui.ui.locator(`[data-job="${b.jobId}"]`).textContent()).toContain('Queued (1st in line)');
    await expect.poll(() => ui.ui.locator(`[data-job="${a.jobId}"]`).textContent()).toMatch(/Step \d+ of 100/);
    // cancel first, then take the (slow) screenshot, so a busy machine cannot let A finish meanwhile
    await ui.ui.getByRole('button', { name: 'Cancel all' }).click();
    await ui.shot(SHOTS, 'queue-cancelling');
    const ended = await Promise.all([a, b].map((job) => ui.main.waitFor('job-ended', (m) => m.jobId === job.jobId)));
    expect(ended.map((m) => m.outcome)).toEqual(['cancelled', 'cancelled']);
    const view = async (id: string) => (await (await fetch(`${demo.url}/v1/jobs/${id}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { state: string; startedAt: string | null };
    expect((await view(a.jobId)).state).toBe('cancelled');
    // B left the companion's queue without running
    expect(await view(b.jobId)).toMatchObject({ state: 'cancelled', startedAt: null });
    expect(await ui.ui.getByText('Cancelled; the frame has its previous image back.').count()).toBe(2);
    expect(ui.main.count('job-result')).toBe(0);
    await ui.shot(SHOTS, 'cancelled');
    await finish(ui);
  });

  it('a job that finishes while its cancel is on the way is not placed, and the user is told', async () => {
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN, prompt: 'a race', steps: 100, density: { kind: 'scale', scale: 1 } }, frames: [{ id: '5:1', name: 'Racer', width: 1024, height: 1024 }] });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const state = async (id: string) => ((await (await fetch(`${demo.url}/v1/jobs/${id}`, { headers: auth })).json()) as { state: string }).state;
    // the cancel reaches the companion only once the job is done there, so it answers 409 job_not_cancellable
    let cancelAnswer = 0;
    await ui.page.route('**/cancel', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const id = decodeURIComponent(new URL(route.request().url()).pathname.split('/').at(-2)!);
      await expect.poll(() => state(id), { timeout: 60_000 }).toBe('done');
      const response = await route.fetch();
      cancelAnswer = response.status();
      await route.fulfill({ response });
    });
    await ui.ui.getByRole('button', { name: 'Generate' }).click();
    await ui.main.waitFor('generate');
    const [job] = ui.main.started;
    await expect.poll(() => ui.ui.locator(`[data-job="${job.jobId}"]`).textContent()).toMatch(/Step \d+ of 100/);
    await ui.ui.getByRole('button', { name: 'Cancel Racer' }).click();

    const ended = await ui.main.waitFor('job-ended', (m) => m.jobId === job.jobId, 60_000);
    expect(ended.outcome).toBe('cancelled');
    await expect.poll(() => cancelAnswer, { timeout: 60_000 }).toBe(409);
    await ui.ui.getByText('Cancelled after it finished; see Recent images.').waitFor();
    await ui.shot(SHOTS, 'cancel-raced-completion');
    // nothing was placed, and nothing is stuck
    expect(ui.main.count('job-result')).toBe(0);
    expect(await ui.ui.getByText('Placing the image…').count()).toBe(0);
    await ui.page.unroute('**/cancel');
    await finish(ui);
  });

  it('fails a job in plain words when the companion refuses it', async () => {
    // a main thread that sizes the frame with limits the companion does not have
    const limits = { minSide: 64, maxSide: 16384, maxPixels: 16384 * 16384 };
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN, prompt: 'too big', density: { kind: 'scale', scale: 4 } }, frames: [{ id: '1:6', name: 'Huge', width: 4096, height: 4096 }], limits });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.ui.getByRole('button', { name: 'Generate' }).click();
    const ended = await ui.main.waitFor('job-ended');
    expect(ended.outcome).toBe('failed');
    expect(ended.message).toMatch(/width must be an integer from 64 to 8192/);
    await ui.ui.getByRole('alert').waitFor();
    await finish(ui);
  });

  it('lists out-of-date frames and regenerates them; a relaunch regenerates once connected', async () => {
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN, prompt: 'x' } });
    const generation = { version: 1, prompt: 'misty forest', seed: 7, method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, format: 'png', density: { kind: 'scale', scale: 2 }, jobId: 'j', model: 'dype-demo', width: 800, height: 400, frameWidth: 400, frameHeight: 200, tiles: 1, imageHash: 'h', createdAt: '' } as const;
    await ui.main.send({
      type: 'outdated',
      frames: [
        { id: '2:1', name: 'Hero', width: 400, height: 300, target: { width: 800, height: 600, clamped: false }, generation, outdated: 'aspect', image: { width: 800, height: 400 }, proposed: 'extend' },
        { id: '2:2', name: 'Card', width: 800, height: 400, target: { width: 1600, height: 800, clamped: false }, generation, outdated: 'size', image: { width: 800, height: 400 }, proposed: 'refine' },
      ],
    });
    await ui.ui.getByRole('heading', { name: 'Out of date (2)' }).waitFor();
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.ui.getByRole('heading', { name: 'Out of date (2)' }).scrollIntoViewIfNeeded();
    await ui.shot(SHOTS, 'out-of-date');
    // each frame proposes Refine when its aspect held and Extend when it changed
    expect(await ui.ui.getByLabel('Action for Hero').inputValue()).toBe('extend');
    expect(await ui.ui.getByLabel('Action for Card').inputValue()).toBe('refine');
    await ui.ui.getByRole('button', { name: 'Regenerate Hero' }).click();
    expect(await ui.main.waitFor('regenerate')).toMatchObject({ nodeIds: ['2:1'], action: 'extend' });
    // Regenerate all: the proposals in one batch, a choice the user made in its own
    await ui.ui.getByLabel('Action for Card').selectOption('reimagine');
    await ui.ui.getByRole('button', { name: 'Regenerate all out-of-date' }).click();
    expect(await ui.main.waitFor('regenerate', (m) => m.action === null)).toMatchObject({ nodeIds: ['2:1'] });
    expect(await ui.main.waitFor('regenerate', (m) => m.action === 'reimagine')).toMatchObject({ nodeIds: ['2:2'] });

    await ui.main.send({ type: 'relaunch', command: 'regenerate', nodeIds: ['2:2'] });
    expect(await ui.main.waitFor('regenerate', (m) => m.nodeIds.length === 1 && m.nodeIds[0] === '2:2' && m.action === null)).toMatchObject({ nodeIds: ['2:2'] });
    await finish(ui);
  });

  /** A two-tile picture as the plugin hands over a tiled result: red on the left, blue on the right (random noise in `noisy` rows, so it does not compress). */
  async function twoTilePicture(width: number, height: number, noisy = 0): Promise<ImageResult> {
    const half = width / 2;
    const tile = async (x: number, rgb: [number, number, number]) => {
      const raw = Buffer.alloc(half * height * 3);
      for (let i = 0; i < half * height; i++) {
        const noise = Math.floor(i / half) < noisy;
        for (let c = 0; c < 3; c++) raw[i * 3 + c] = noise ? Math.floor(Math.random() * 256) : rgb[c];
      }
      const bytes = new Uint8Array(await sharp(raw, { raw: { width: half, height, channels: 3 } }).png().toBuffer());
      return { x, y: 0, width: half, height, bytes };
    };
    return { width, height, tiles: [await tile(0, [200, 40, 30]), await tile(half, [30, 60, 200])] };
  }

  /** The raw RGB pixels of the upload a job started from, read from the companion's data folder. */
  async function uploadedPixels(jobId: string): Promise<{ data: Buffer; width: number; height: number; params: JobView['params'] }> {
    const view = (await (await fetch(`${demo.url}/v1/jobs/${jobId}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as JobView;
    const id = view.params.init ?? '';
    expect(id).toMatch(/^upload-[a-z0-9]{16,32}$/);
    const file = (await readdir(join(demo.dataDir, 'uploads'))).find((name) => name.startsWith(`${id}.`) && !name.endsWith('.json'));
    const { data, info } = await sharp(join(demo.dataDir, 'uploads', file ?? 'missing')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, params: view.params };
  }

  /** Red (left tile) or blue (right tile) at pixel x of a stitched picture whose tiles meet at `seam`. */
  function expectTileColour(pixels: Buffer, width: number, x: number, y: number, seam: number): void {
    const i = (y * width + x) * 3;
    expect([...pixels.subarray(i, i + 3)]).toEqual(x < seam ? [200, 40, 30] : [30, 60, 200]);
  }

  it('refines a frame’s picture: stitches and uploads it with progress, then follows the job to its result', async () => {
    // 512×256 px in two tiles; noisy rows make ~180 kB of PNG, uploaded at 128 kB/s so progress shows
    const picture = await twoTilePicture(512, 256, 80);
    const ui = await openPage({
      settings: { companionUrl: demo.url, token: TOKEN, prompt: 'the same picture, sharper', steps: 2, seedLocked: true, seed: 11 },
      frames: [{ id: '5:1', name: 'Photo', width: 256, height: 128, picture }],
    });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.ui.getByRole('radio', { name: 'Refine' }).check();
    expect(await ui.ui.locator('#action-help').textContent()).toBe('The same picture, sharper: upscales it and redraws the fine detail.');
    await ui.ui.getByRole('radio', { name: 'Same size' }).check();
    await expect.poll(() => ui.ui.getByTestId('targets').textContent()).toContain('512 × 256 px → 512 × 256 px');
    await ui.ui.getByText('Advanced').click();
    await ui.ui.getByLabel('Strength (Refine and Extend)').fill('0.4');
    await ui.ui.getByLabel('Strength (Refine and Extend)').blur();
    await ui.shot(SHOTS, 'refine');

    const unthrottle = await ui.throttleUploads(128 * 1024);
    await ui.ui.getByRole('button', { name: 'Refine' }).click();
    // upload progress: the bytes sent of the stitched picture, and the bar part way
    const status = ui.ui.getByText(/^Uploading the picture · \d+ kB of \d+ kB$/);
    await status.waitFor();
    const [job] = ui.main.started;
    expect(job.init).toMatchObject({ strength: 0.4, keep: null, crop: null });
    const bar = ui.ui.getByRole('progressbar', { name: 'Progress of Photo' });
    const partWay = async () => {
      const pct = Number(await bar.getAttribute('aria-valuenow'));
      return (await status.count()) === 1 && pct > 0 && pct < 100;
    };
    await expect.poll(partWay, { timeout: 10_000, interval: 50 }).toBe(true);
    await ui.shot(SHOTS, 'uploading');
    await unthrottle();

    const result = (await ui.main.waitFor('job-result', (m) => m.jobId === job.jobId, 60_000)) as UiToMainOf<'job-result'>;
    expect([result.image.width, result.image.height]).toEqual([512, 256]);
    // the companion got the two tiles as one picture, pixel for pixel, and the strength
    const uploaded = await uploadedPixels(job.jobId);
    expect([uploaded.width, uploaded.height]).toEqual([512, 256]);
    for (const x of [0, 255, 256, 511]) expectTileColour(uploaded.data, 512, x, 200, 256);
    expect(uploaded.params).toMatchObject({ strength: 0.4, width: 512, height: 256 });
    await ui.ui.getByText('Placed in “Photo”.').waitFor();
    await finish(ui);
  });

  it('cancels a Refine while its picture uploads: the upload stops and no job reaches the companion', async () => {
    const picture = await twoTilePicture(512, 256, 80);
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN, prompt: 'never mind', action: 'refine', upscale: 1 }, frames: [{ id: '5:2', name: 'Slow', width: 256, height: 128, picture }] });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.throttleUploads(16 * 1024);
    await ui.ui.getByRole('button', { name: 'Refine' }).click();
    await ui.ui.getByText(/^Uploading the picture/).waitFor();
    const [job] = ui.main.started;
    await ui.ui.getByRole('button', { name: 'Cancel Slow' }).click();
    // well before the ~8 s the upload would take
    const ended = await ui.main.waitFor('job-ended', (m) => m.jobId === job.jobId, 3_000);
    expect(ended.outcome).toBe('cancelled');
    await ui.ui.getByText('Cancelled; the frame has its previous image back.').waitFor();
    const answer = await fetch(`${demo.url}/v1/jobs/${job.jobId}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(answer.status).toBe(404);
    await finish(ui);
  });

  it('offers only Re-imagine when the companion’s model cannot start from a picture', async () => {
    const picture = await twoTilePicture(128, 64);
    const ui = await openPage({
      settings: { companionUrl: demo.url, token: TOKEN, prompt: 'x', action: 'refine' },
      frames: [{ id: '5:3', name: 'Photo', width: 128, height: 64, picture }],
      // a companion whose model has no VAE encoder says so in health
      prepare: (page) =>
        page.route('**/v1/health', async (route) => {
          const answer = await route.fetch();
          await route.fulfill({ response: answer, json: { ...((await answer.json()) as object), imageToImage: false } });
        }),
    });
    await ui.ui.getByText('The companion’s model cannot start from a picture (it has no VAE encoder): choose Re-imagine.').waitFor();
    expect(await ui.ui.getByRole('button', { name: 'Refine' }).isDisabled()).toBe(true);
    // out-of-date frames are re-imagined, whatever they propose
    const generation = { version: 1, prompt: 'p', seed: 7, method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, format: 'png', density: { kind: 'scale', scale: 1 }, jobId: 'j', model: 'm', width: 128, height: 64, frameWidth: 128, frameHeight: 64, tiles: 1, imageHash: 'h', createdAt: '' } as const;
    await ui.main.send({ type: 'outdated', frames: [{ id: '5:3', name: 'Photo', width: 256, height: 64, target: { width: 256, height: 64, clamped: false }, generation, outdated: 'aspect', image: { width: 128, height: 64 }, proposed: 'extend' }] });
    expect(await ui.ui.getByLabel('Action for Photo').inputValue()).toBe('reimagine');
    await ui.ui.getByRole('button', { name: 'Regenerate Photo' }).click();
    expect(await ui.main.waitFor('regenerate')).toMatchObject({ nodeIds: ['5:3'], action: 'reimagine' });
    await finish(ui);
  });

  it('extends: uploads the part of the picture the frame kept, and keeps it in the keep rectangle', async () => {
    const picture = await twoTilePicture(128, 64);
    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN } });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    // the frame's left edge moved in by a quarter and its right edge out: the plugin's Extend plan
    const keep = { x: 0, y: 0, width: 96, height: 64, feather: 4 };
    const body = { id: 'ui-extend-1', prompt: 'more of the same', width: 192, height: 64, seed: 5, steps: 2, method: 'dy-yarn', format: 'png' } as const;
    await ui.main.send({ type: 'start-jobs', jobs: [{ jobId: body.id, nodeId: '6:1', frameName: 'Banner', body, init: { image: picture, crop: { x: 32, y: 0, width: 96, height: 64 }, keep, strength: null } }] });
    const result = (await ui.main.waitFor('job-result', (m) => m.jobId === body.id, 60_000)) as UiToMainOf<'job-result'>;
    const uploaded = await uploadedPixels(body.id);
    expect([uploaded.width, uploaded.height]).toEqual([96, 64]);
    // the crop starts 32 px in: 32 px of red, then blue
    for (const x of [0, 31, 32, 95]) expectTileColour(uploaded.data, 96, x, 10, 32);
    expect(uploaded.params).toMatchObject({ keep, width: 192, height: 64 });
    // kept pixels are the picture's, away from the blend band
    const { data } = await sharp(result.image.tiles[0].bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    for (const x of [10, 60]) {
      const i = (32 * 192 + x) * 3;
      const expected = x < 32 ? [200, 40, 30] : [30, 60, 200];
      [...data.subarray(i, i + 3)].forEach((v, c) => expect(Math.abs(v - expected[c])).toBeLessThanOrEqual(2));
    }
    await finish(ui);
  });

  it('shows recent images from the companion and re-applies one to the selection', async () => {
    // a finished job made by another client (e.g. the CLI or an earlier session)
    const auth = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    const submitted = (await (await fetch(`${demo.url}/v1/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ prompt: 'history sample', width: 4160, height: 64, seed: 3, steps: 1 }) })).json()) as { id: string };
    await expect.poll(async () => ((await (await fetch(`${demo.url}/v1/jobs/${submitted.id}`, { headers: auth })).json()) as { state: string }).state, { timeout: 30_000 }).toBe('done');

    const ui = await openPage({ settings: { companionUrl: demo.url, token: TOKEN }, frames: [{ id: '3:1', name: 'Target', width: 100, height: 100 }] });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.ui.getByRole('heading', { name: 'Recent images' }).click();
    const apply = ui.ui.getByRole('button', { name: /^Apply “history sample”/ });
    await apply.waitFor();
    await apply.click();
    // thumbnails of the full-size image: decoded off the main thread, lazily, at 40 px
    const thumb = ui.ui.locator('.history-list img').first();
    expect(await Promise.all(['decoding', 'loading', 'width', 'height'].map((a) => thumb.getAttribute(a)))).toEqual(['async', 'lazy', '40', '40']);
    const reapply = (await ui.main.waitFor('reapply')) as UiToMainOf<'reapply'>;
    expect(reapply.meta).toMatchObject({ jobId: submitted.id, prompt: 'history sample', seed: 3, steps: 1, model: 'dype-demo' });
    expect(reapply.image.width).toBe(4160);
    expect(reapply.image.tiles.map((t) => t.width)).toEqual([2080, 2080]);
    await ui.ui.getByRole('heading', { name: 'Recent images' }).scrollIntoViewIfNeeded();
    await ui.shot(SHOTS, 'history');
    await finish(ui);
  });

  it('follows the Figma dark theme and drops malformed messages', async () => {
    const ui = await openPage({ dark: true, settings: { companionUrl: demo.url, token: TOKEN, prompt: 'a red kite over dunes' }, frames: [{ id: '4:1', name: 'Hero', width: 1440, height: 900 }] });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    const background = await ui.frame.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(background).toBe('rgb(44, 44, 44)');
    await ui.page.evaluate(() => {
      const w = globalThis as unknown as { toUi(m: unknown): void };
      w.toUi({ type: 'selection' });
      w.toUi({ type: 'nonsense', x: 1 });
      w.toUi('hello');
    });
    await ui.main.send({ type: 'selection', selection: { frames: [], newFrame: { width: 1024, height: 1024, target: { width: 2048, height: 2048, clamped: false } }, skipped: 0 } });
    await expect.poll(() => ui.ui.getByTestId('targets').textContent()).toContain('New frame');
    await ui.shot(SHOTS, 'dark');
    await finish(ui);
  });
});
