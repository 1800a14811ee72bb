/**
 * manifest.json: what Figma reads to load the plugin, reach the companion and show relaunch buttons.
 * Its networkAccess is checked with Figma's own import rules (test/helpers/figma-manifest.ts); each
 * rule also gets a manifest that breaks it, so a rule that never fires would show.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMPANION_ORIGINS } from '../../runtime/contract/index.ts';
import { NETWORK_ACCESS_RULES, networkAccessProblem, type NetworkAccess, type NetworkAccessRule } from '../helpers/figma-manifest.ts';

const manifest = JSON.parse(readFileSync(new URL('../../manifest.json', import.meta.url), 'utf8'));
const access = manifest.networkAccess as NetworkAccess;

describe('manifest.json', () => {
  it('loads the built bundles in Figma with dynamic page access', () => {
    expect(manifest).toMatchObject({ api: '1.0.0', editorType: ['figma'], main: 'dist/plugin.js', ui: 'dist/ui.html', documentAccess: 'dynamic-page' });
  });

  it('passes Figma\'s networkAccess rules', () => {
    expect(networkAccessProblem(access)).toBeNull();
  });

  it('may reach only the companion on this computer, as localhost, which the UI defaults to and says why', () => {
    expect(access.allowedDomains).toEqual(['http://localhost:7860']);
    expect(COMPANION_ORIGINS).toEqual(access.allowedDomains);
    expect(access.reasoning).toMatch(/localhost/);
    expect(access.devAllowedDomains).toBeUndefined();
  });

  it('declares the Regenerate and Open DyPE relaunch buttons', () => {
    expect(manifest.relaunchButtons.map((b: { command: string; name: string }) => [b.command, b.name])).toEqual([
      ['regenerate', 'Regenerate'],
      ['open', 'Open DyPE'],
    ]);
  });
});

describe('Figma\'s networkAccess rules', () => {
  const reasoning = 'Talks to a program on this computer.';
  const breaks: Record<NetworkAccessRule, { access: NetworkAccess; entry?: string }> = {
    'wildcard-needs-reasoning': { access: { allowedDomains: ['*'] } },
    'localhost-needs-reasoning': { access: { allowedDomains: ['http://localhost:7860'] }, entry: 'http://localhost:7860' },
    'reasoning-under-1000': { access: { allowedDomains: ['http://localhost:7860'], reasoning: 'x'.repeat(1001) } },
    'not-empty': { access: { allowedDomains: [] } },
    'none-alone': { access: { allowedDomains: ['none', 'https://example.com'] } },
    // the manifest this plugin had before: an IP literal is not a host Figma accepts
    'valid-url': { access: { allowedDomains: ['http://127.0.0.1:7860', 'http://localhost:7860'], reasoning }, entry: 'http://127.0.0.1:7860' },
    'no-duplicates': { access: { allowedDomains: ['http://localhost:7860', 'http://localhost:7860'], reasoning }, entry: 'http://localhost:7860' },
    'has-scheme': { access: { allowedDomains: ['localhost:7860'], reasoning }, entry: 'localhost:7860' },
    'dev-valid-url': { access: { allowedDomains: ['none'], devAllowedDomains: ['http://[::1]:7860'] }, entry: 'http://[::1]:7860' },
  };

  it.each(NETWORK_ACCESS_RULES.map((rule) => [rule, breaks[rule]] as const))('%s: a manifest that breaks it is refused', (rule, { access, entry }) => {
    expect(networkAccessProblem(access)).toEqual(entry === undefined ? { rule } : { rule, entry });
  });

  it.each<[string, NetworkAccess]>([
    ['a published domain needs no reasoning', { allowedDomains: ['https://api.example.com', 'wss://*.example.com/socket'] }],
    ['"none" alone', { allowedDomains: ['none'] }],
    ['"*" with a reasoning', { allowedDomains: ['*'], reasoning }],
    ['localhost with a port, with a reasoning', { allowedDomains: ['http://localhost:7860'], reasoning }],
    ['a reasoning of exactly 1000 characters', { allowedDomains: ['http://localhost:7860'], reasoning: 'x'.repeat(1000) }],
    ['localhost for development only', { allowedDomains: ['none'], devAllowedDomains: ['http://localhost:7860'] }],
  ])('accepts %s', (_, ok) => {
    expect(networkAccessProblem(ok)).toBeNull();
  });

  it.each(['http://127.0.0.1:7860', 'http://[::1]:7860', 'http://192.168.1.20', 'ftp://example.com', 'https://example.com:8080:1', 'https://Example.COM'])('%s is not a valid URL to Figma', (entry) => {
    expect(networkAccessProblem({ allowedDomains: [entry], reasoning })).toEqual({ rule: 'valid-url', entry });
  });
});
