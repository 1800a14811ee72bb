/**
 * The built UI in headless Chromium against a real companion running a Z-Image bundle converted from
 * the tiny ComfyUI-style files (test/convert/helpers/zimage-fixtures.ts): it names the family and
 * generates a 4096×2304 image with DyPE-YaRN.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { convertZImageBundle } from '../convert/helpers/zimage-fixtures.ts';
import { buildUi, chromiumAvailable, launchChromium, openUi, startBundleCompanion, TOKEN, type DemoCompanion } from './harness.ts';

describe.skipIf(!chromiumAvailable())('plugin UI with a Z-Image companion', () => {
  let companion: DemoCompanion;
  let browser: Browser;
  let html: string;

  beforeAll(async () => {
    [companion, browser, html] = await Promise.all([startBundleCompanion(async (dir) => (await convertZImageBundle(dir)).bundle), launchChromium(), buildUi()]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await companion?.close();
  });

  it('shows the family and generates 4096×2304 with dy-yarn', async () => {
    const ui = await openUi(browser, html, {
      settings: { companionUrl: companion.url, token: TOKEN, prompt: 'a wide valley', steps: 1, density: { kind: 'scale', scale: 2 } },
      frames: [{ id: '2:1', name: 'Panorama', width: 2048, height: 1152 }],
    });
    try {
      await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
      expect(await ui.ui.getByTestId('model').textContent()).toMatch(/^bundle · Z-Image, 1024 px native · cpu/);
      await ui.ui.getByRole('button', { name: 'Generate' }).click();
      await ui.main.waitFor('generate');
      const [job] = ui.main.started;
      expect(job.body).toMatchObject({ width: 4096, height: 2304, method: 'dy-yarn' });
      const result = await ui.main.waitFor('job-result', (m) => m.jobId === job.jobId, 600_000);
      expect([result.image.width, result.image.height]).toEqual([4096, 2304]);
      expect(result.meta).toMatchObject({ method: 'dy-yarn', model: 'bundle' });
      expect(ui.errors).toEqual([]);
    } finally {
      await ui.close();
    }
  }, 620_000);
});
