// The Figma side builds into one plugin script and one self-contained HTML file.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFigma } from '../../scripts/build.ts';

const out = mkdtempSync(join(tmpdir(), 'dype-build-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('Figma build', () => {
  it('writes dist/plugin.js and a self-contained dist/ui.html, as manifest.json names them', async () => {
    const { pluginJs, uiHtml } = await buildFigma(`${out}/`);
    const manifest = JSON.parse(readFileSync('manifest.json', 'utf8')) as { main: string; ui: string };
    expect(manifest.main).toBe('dist/plugin.js');
    expect(manifest.ui).toBe('dist/ui.html');
    const js = readFileSync(pluginJs, 'utf8');
    expect(js).toMatch(/figma\.showUI/);
    expect(js).not.toMatch(/^\s*(import|export) /m); // an IIFE, no module syntax
    const html = readFileSync(uiHtml, 'utf8');
    expect(html).toMatch(/<script>[\s\S]+<\/script>/);
    expect(html).toMatch(/<style>[\s\S]*<\/style>/);
    // Figma loads the UI as one string: nothing may point at another file.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|<!--(SCRIPT|STYLE)-->/);
  });

  it('keeps both bundles small: zod tree-shaken and without its translations, the plugin minified', async () => {
    const { pluginJs, uiHtml } = await buildFigma(`${out}/`);
    // measured 134 kB and 170 kB; `import { z } from 'zod'` in a bundled file adds about 95 kB to each,
    // zod's translations about 270 kB, an unminified plugin.js about 145 kB
    expect(statSync(pluginJs).size).toBeLessThan(180_000);
    expect(statSync(uiHtml).size).toBeLessThan(230_000);
    // translations of zod's messages would carry their own words
    expect(readFileSync(uiHtml, 'utf8')).not.toMatch(/Ungültige Eingabe|Entrada inválida/);
  });
});
