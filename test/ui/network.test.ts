/**
 * How the built UI reaches the companion from where Figma puts it, in real headless Chromium against
 * a real companion with the demo model:
 * - under the Content-Security-Policy Figma builds from manifest.json (test/helpers/figma-manifest.ts)
 *   in a null-origin srcdoc iframe: it reaches the companion as localhost, and the policy refuses an
 *   IP literal;
 * - on a public origin, where Chrome's Local Network Access applies: without the permission the UI
 *   says the browser blocks this computer (not "companion not running") and what to do; with it, it
 *   connects. `--ip-address-space-overrides` makes Chromium treat one harness server's origin as public;
 *   the other tests' pages come from the shared, private one.
 */
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { figmaUiCsp } from '../helpers/figma-manifest.ts';
import { buildUi, CHROMIUM, chromiumAvailable, closedPort, launchChromium, openUi, startDemoCompanion, startHarnessServer, TOKEN, type DemoCompanion, type HarnessServer, type OpenUiOptions, type UiPage } from './harness.ts';

/** The shape of an Electron app's user agent: Chrome's, plus the app's and Electron's versions. */
const FIGMA_DESKTOP = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Figma/125.9.10 Chrome/142.0.7444.52 Electron/39.2.0 Safari/537.36';

const manifest = JSON.parse(readFileSync(new URL('../../manifest.json', import.meta.url), 'utf8')) as { networkAccess: { allowedDomains: string[] } };

if (!chromiumAvailable()) console.warn(`UI network tests skipped: no Chromium at ${CHROMIUM}.`);

describe.skipIf(!chromiumAvailable())('the UI reaching the companion as Figma hosts it', () => {
  let demo: DemoCompanion;
  let html: string;
  let public_: HarnessServer;
  /** Treats `public_`'s origin as public (Local Network Access applies to it), and every other as it is. */
  let browser: Browser;
  const open: UiPage[] = [];

  beforeAll(async () => {
    public_ = await startHarnessServer();
    [demo, html, browser] = await Promise.all([startDemoCompanion(), buildUi(), launchChromium([`--ip-address-space-overrides=127.0.0.1:${public_.port}=public`])]);
  });

  afterAll(async () => {
    await Promise.all(open.map((ui) => ui.close().catch(() => {})));
    await browser?.close();
    await demo?.close();
    await public_?.close();
  });

  async function openPage(options: OpenUiOptions): Promise<UiPage> {
    const ui = await openUi(browser, html, options);
    open.push(ui);
    return ui;
  }

  /** The CSP Figma would build from manifest.json, with the test companion's port in place of 7860 (it runs on port 0). */
  function manifestCsp(): string {
    const port = new URL(demo.url).port;
    const csp = figmaUiCsp(manifest.networkAccess.allowedDomains.map((entry) => entry.replace(/:7860$/, `:${port}`)));
    if (csp === null) throw new Error('the manifest allows every domain: Figma would set no policy');
    return csp;
  }

  it('under the manifest\'s Content-Security-Policy, reaches the companion as localhost and generates', async () => {
    expect(demo.url).toMatch(/^http:\/\/localhost:\d+$/);
    const csp = manifestCsp();
    expect(csp).toBe(`default-src data: blob: ${demo.url}; script-src 'unsafe-inline' 'unsafe-eval' data: blob: ${demo.url}; style-src 'unsafe-inline' 'unsafe-eval' data: blob: ${demo.url}; font-src https://www.figma.com/webfont/ data: blob: ${demo.url};`);
    const ui = await openPage({ csp, settings: { companionUrl: demo.url, token: TOKEN, prompt: 'a lighthouse', steps: 2, density: { kind: 'scale', scale: 1 } }, frames: [{ id: '1:2', name: 'Hero', width: 128, height: 128 }] });
    expect(await ui.frame.evaluate('window.origin')).toBe('null');
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    await ui.ui.getByRole('button', { name: 'Generate' }).click();
    await ui.main.waitFor('generate');
    const [job] = ui.main.started;
    const result = await ui.main.waitFor('job-result', (m) => m.jobId === job.jobId, 60_000);
    expect([result.image.width, result.image.height]).toEqual([128, 128]);
    expect(ui.errors).toEqual([]);
  });

  it('under the same policy, an IP literal for the same companion is refused by the browser', async () => {
    const byIp = demo.url.replace('localhost', '127.0.0.1');
    const ui = await openPage({ csp: manifestCsp(), settings: { companionUrl: byIp, token: TOKEN }, testOrigins: [byIp] });
    await ui.ui.getByRole('heading', { name: 'Companion not running' }).waitFor();
    expect(ui.errors).toContainEqual(expect.stringContaining(`Connecting to '${byIp}/v1/health' violates the following Content Security Policy directive: "default-src data: blob: ${demo.url}"`));
  });

  it('on a public origin without the Local Network Access permission, says the browser blocks this computer and what to do', async () => {
    // the iframe is not delegated the permission: it is denied, and no prompt can grant it
    const ui = await openPage({ servedFrom: public_, allow: null, settings: { companionUrl: demo.url, token: TOKEN } });
    expect(await ui.frame.evaluate("navigator.permissions.query({ name: 'loopback-network' }).then((p) => p.state)")).toBe('denied');
    await ui.ui.getByRole('heading', { name: 'Browser blocks this computer' }).waitFor();
    expect(await ui.ui.getByRole('status').first().textContent()).toBe(`The browser does not let Figma reach apps on this computer, so the companion at ${demo.url} is out of reach.`);
    const hint = await ui.ui.locator('.hint').textContent();
    expect(hint).toContain('turn on “Apps on device” (or “Local network”)');
    expect(hint).toContain('Figma desktop app');
    await ui.shot(new URL('../artifacts/ui/', import.meta.url).pathname, 'local-network-blocked');

    // a job handed over meanwhile fails with the same reason, not "not running"
    await ui.main.send({ type: 'start-jobs', jobs: [{ jobId: 'lna-1', nodeId: '9:1', frameName: 'Blocked', body: { id: 'lna-1', prompt: 'p', width: 64, height: 64, seed: 1, method: 'dy-yarn', format: 'png' } }] });
    const ended = await ui.main.waitFor('job-ended', (m) => m.jobId === 'lna-1');
    expect(ended).toMatchObject({ outcome: 'failed', message: expect.stringMatching(/^The browser does not let Figma reach apps on this computer/) });
  });

  it('in Figma\'s desktop app (Electron), where site settings do not apply, a denied permission is not called a block', async () => {
    const closed = `http://localhost:${await closedPort()}`;
    const ui = await openPage({ servedFrom: public_, allow: null, userAgent: FIGMA_DESKTOP, settings: { companionUrl: closed, token: TOKEN }, testOrigins: [closed] });
    await ui.ui.getByRole('heading', { name: 'Companion not running' }).waitFor();
    expect(await ui.frame.evaluate('navigator.userAgent')).toBe(FIGMA_DESKTOP);
  });

  it('on a public origin with the permission granted and delegated to the iframe, connects', async () => {
    const ui = await openPage({
      servedFrom: public_,
      prepare: (page) => page.context().grantPermissions(['local-network-access'], { origin: public_.origin }),
      settings: { companionUrl: demo.url, token: TOKEN },
    });
    await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
    expect(ui.errors).toEqual([]);
  });
});
