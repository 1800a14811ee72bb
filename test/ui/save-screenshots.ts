/**
 * Saves small reference screenshots of the plugin UI's main states to docs/screenshots/ (for the
 * README), using the same harness as the UI tests: the built UI in headless Chromium, a real
 * companion with the demo model, and a scripted main thread.
 *
 *   npx tsx test/ui/save-screenshots.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildUi, closedPort, launchChromium, openUi, startDemoCompanion, TOKEN, type UiPage } from './harness.ts';

const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

async function save(ui: UiPage, name: string): Promise<void> {
  const png = await ui.page.locator('#ui').screenshot();
  const small = await sharp(png).png({ palette: true, quality: 85, compressionLevel: 9 }).toBuffer();
  await writeFile(`${OUT}${name}.png`, small);
  console.log(`docs/screenshots/${name}.png  ${(small.length / 1024).toFixed(0)} kB`);
}

const [demo, browser, html] = await Promise.all([startDemoCompanion(), launchChromium(), buildUi()]);
await mkdir(OUT, { recursive: true });
try {
  // 1. the companion is not running
  let ui = await openUi(browser, html, { settings: { companionUrl: `http://localhost:${await closedPort(7860)}`, prompt: 'A lighthouse on a cliff at dawn' } });
  await ui.ui.getByRole('heading', { name: 'Companion not running' }).waitFor();
  await save(ui, 'not-running');
  await ui.close();

  // 2. pairing
  ui = await openUi(browser, html, { settings: { companionUrl: demo.url, token: null } });
  await ui.ui.getByRole('heading', { name: 'Not paired yet' }).waitFor();
  await ui.ui.getByLabel('Pairing code').fill(demo.pairingCode);
  await save(ui, 'pairing');
  await ui.close();

  // 3. ready to generate into two frames, then progress with a live preview and a queue
  ui = await openUi(browser, html, {
    settings: { companionUrl: demo.url, token: TOKEN, prompt: 'A lighthouse on a cliff at dawn, mist over the sea', steps: 60 },
    frames: [
      { id: '1:2', name: 'Hero banner', width: 1440, height: 810 },
      { id: '1:3', name: 'Poster', width: 600, height: 800 },
    ],
  });
  await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
  await save(ui, 'generate');
  await ui.ui.getByRole('button', { name: 'Generate 2 images' }).click();
  await ui.main.waitFor('job-preview');
  await ui.ui.getByText(/Step \d+ of 60/).waitFor();
  await ui.ui.getByText(/Step (1\d|[2-9]\d) of 60/).waitFor({ timeout: 60_000 });
  await save(ui, 'progress');
  await ui.ui.getByRole('button', { name: 'Cancel all' }).click();
  await ui.main.waitFor('job-ended');
  await ui.close();

  // 4. Refine a photo the user placed, then its upload and progress (the upload slowed down, so that it shows)
  const photo = await sharp({ create: { width: 1200, height: 800, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer();
  ui = await openUi(browser, html, {
    settings: { companionUrl: demo.url, token: TOKEN, prompt: 'A lighthouse on a cliff at dawn, mist over the sea', steps: 60, action: 'refine', upscale: 2, strength: 0.4 },
    frames: [{ id: '1:4', name: 'Team photo', width: 600, height: 400, picture: { width: 1200, height: 800, tiles: [{ x: 0, y: 0, width: 1200, height: 800, bytes: new Uint8Array(photo) }] } }],
  });
  await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
  await save(ui, 'refine');
  await ui.throttleUploads(256 * 1024);
  await ui.ui.getByRole('button', { name: 'Refine' }).click();
  await ui.ui.getByText(/^Uploading the picture · [0-9.]+ MB of/).waitFor({ timeout: 60_000 });
  await save(ui, 'uploading');
  await ui.ui.getByRole('button', { name: 'Cancel Team photo' }).click();
  await ui.main.waitFor('job-ended');
  await ui.close();

  // 5. frames resized since their image was made
  ui = await openUi(browser, html, { dark: true, settings: { companionUrl: demo.url, token: TOKEN, prompt: 'Misty forest' } });
  const generation = { version: 1, prompt: 'Misty forest', seed: 7, method: 'dy-yarn', steps: 28, guidance: null, dypeScale: null, dypeExponent: null, format: 'png', density: { kind: 'scale', scale: 2 }, jobId: 'j', model: 'dype-demo', width: 2880, height: 1620, frameWidth: 1440, frameHeight: 810, tiles: 1, imageHash: 'h', createdAt: '' } as const;
  await ui.main.send({
    type: 'outdated',
    frames: [
      { id: '2:1', name: 'Hero banner', width: 1440, height: 1024, target: { width: 2880, height: 2048, clamped: false }, generation, outdated: 'aspect', image: { width: 2880, height: 1620 }, proposed: 'extend' },
      { id: '2:2', name: 'Hero banner (tablet)', width: 2160, height: 1215, target: { width: 4320, height: 2430, clamped: false }, generation, outdated: 'size', image: { width: 2880, height: 1620 }, proposed: 'refine' },
    ],
  });
  await ui.ui.getByRole('heading', { name: 'Connected' }).waitFor();
  await ui.ui.getByRole('button', { name: 'Regenerate Hero banner (tablet)' }).scrollIntoViewIfNeeded();
  await save(ui, 'out-of-date-dark');
  await ui.close();
} finally {
  await browser.close();
  await demo.close();
}
