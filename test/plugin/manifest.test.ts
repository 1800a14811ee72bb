/** manifest.json: what Figma reads to load the plugin, reach the companion and show relaunch buttons. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const manifest = JSON.parse(readFileSync(new URL('../../manifest.json', import.meta.url), 'utf8'));

describe('manifest.json', () => {
  it('loads the built bundles in Figma with dynamic page access', () => {
    expect(manifest).toMatchObject({ api: '1.0.0', editorType: ['figma'], main: 'dist/plugin.js', ui: 'dist/ui.html', documentAccess: 'dynamic-page' });
  });

  it('may reach only the companion on this computer, and says why', () => {
    expect(manifest.networkAccess.allowedDomains).toEqual(['http://127.0.0.1:7860', 'http://localhost:7860']);
    expect(manifest.networkAccess.reasoning.length).toBeGreaterThan(20);
  });

  it('declares the Regenerate and Open DyPE relaunch buttons', () => {
    expect(manifest.relaunchButtons.map((b: { command: string; name: string }) => [b.command, b.name])).toEqual([
      ['regenerate', 'Regenerate'],
      ['open', 'Open DyPE'],
    ]);
  });
});
