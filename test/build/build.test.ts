// The Figma side builds into one plugin script and one self-contained HTML file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
});
