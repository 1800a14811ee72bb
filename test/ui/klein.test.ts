/**
 * The built UI in real headless Chromium against a real companion running a FLUX.2 [klein] bundle
 * converted from tiny ComfyUI-style files: the connection line and /v1/health name the family and
 * its native size, the size presets follow it, and a 2048×512 frame at 2× density becomes a
 * 4096×1024 banner with dy-yarn.
 */
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoints } from '../../runtime/convert/index.ts';
import { writeKleinModels } from '../convert/helpers/klein-models.ts';
import { buildUi, chromiumAvailable, launchChromium, openUi, startBundleCompanion, TOKEN, type DemoCompanion } from './harness.ts';

async function kleinBundle(dir: string): Promise<string> {
  const { models, tokenizers } = writeKleinModels(dir);
  const bundle = join(dir, 'klein');
  await convertCheckpoints([models], { output: bundle, tokenizers, hubCache: null, name: 'klein-tiny' });
  return bundle;
}

describe.skipIf(!chromiumAvailable())('plugin UI with a FLUX.2 [klein] companion', () => {
  let companion: DemoCompanion;
  let browser: Browser;
  let html: string;

  beforeAll(async () => {
    [companion, browser, html] = await Promise.all([startBundleCompanion(kleinBundle), launchChromium(), buildUi()]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await companion?.close();
  });

  it('names the family and native size, offers sizes from it, and generates a 4096×1024 banner with dy-yarn', async () => {
    const health = (await (await fetch(`${companion.url}/v1/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ model: 'klein-tiny', family: 'FLUX.2 [klein]', nativeResolution: 1024, defaultSteps: 4, defaultGuidance: null });

    const ui = await openUi(browser, html, { settings: { companionUrl: companion.url, token: TOKEN, prompt: 'a wide banner', steps: 1, density: { kind: 'scale', scale: 2 } }, frames: [{ id: '1:9', name: 'Banner', width: 2048, height: 512 }] });
    try {
      await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
      expect(await ui.ui.getByTestId('model').textContent()).toMatch(/klein-tiny · FLUX\.2 \[klein\], 1024 px native/);
      // the plugin learns the native side: a new frame would be 1024 pt square
      const limits = await ui.main.waitFor('limits', (m) => m.limits?.nativeSide === 1024);
      expect(limits.limits).toMatchObject({ nativeSide: 1024, maxSide: 4096 });
      await ui.ui.getByText('Longest side').click();
      const presets = ui.ui.getByRole('group', { name: 'Sizes for this model' }).getByRole('button');
      expect(await presets.allTextContents()).toEqual(['1024', '2048', '4096']);
      await ui.ui.getByText('2×').click();

      await ui.ui.getByText('Advanced').click();
      await ui.ui.getByLabel('Method').selectOption('dy-yarn');
      expect(await ui.ui.getByTestId('dype-exponent').textContent()).toMatch(/at 4\.0× native/);
      await ui.ui.getByRole('button', { name: 'Generate' }).click();
      await ui.main.waitFor('generate');
      const [job] = ui.main.started;
      expect(job.body).toMatchObject({ width: 4096, height: 1024, method: 'dy-yarn' });
      const result = await ui.main.waitFor('job-result', (m) => m.jobId === job.jobId, 240_000);
      expect([result.image.width, result.image.height]).toEqual([4096, 1024]);
      expect(result.meta).toMatchObject({ method: 'dy-yarn' });
      expect(ui.errors, JSON.stringify(ui.errors)).toEqual([]);
    } finally {
      await ui.close();
    }
  }, 300_000);
});
