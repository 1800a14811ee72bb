/**
 * Figma's lint (plugin/eslint.config.mjs) runs with type information on plugin/: the plugin passes it,
 * and code that uses deprecated synchronous API in a plugin file is caught, so a config that quietly
 * lints nothing would show.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ overrideConfigFile: 'plugin/eslint.config.mjs' });

describe('Figma lint on plugin/', () => {
  it('finds nothing in the plugin', async () => {
    const results = await eslint.lintFiles(['plugin']);
    expect(results.length).toBeGreaterThan(5);
    expect(results.flatMap((r) => r.messages.map((m) => `${r.filePath}:${m.line} ${m.ruleId} ${m.message}`))).toEqual([]);
  });

  it('catches deprecated synchronous API, using the types to know what figma.* is', async () => {
    const code = [
      'export function probe(page: PageNode): void {',
      "  const node = figma.getNodeById('1:2');",
      '  figma.currentPage = page;',
      '  void node;',
      '}',
      // the same names on our own object are not Figma's API
      'const mine = { getNodeById: (id: string) => id, currentPage: 0 };',
      "mine.getNodeById('1:2');",
      'mine.currentPage = 1;',
    ].join('\n');
    // the text of a file in the plugin's tsconfig, so that it is type-checked as plugin code; with
    // CI=true typescript-estree would infer a single run and type-check the file on disk instead
    const textLint = new ESLint({
      overrideConfigFile: 'plugin/eslint.config.mjs',
      overrideConfig: { languageOptions: { parserOptions: { disallowAutomaticSingleRunInference: true } } },
    });
    const [result] = await textLint.lintText(code, { filePath: 'plugin/main.ts' });
    expect(result.messages.map((m) => [m.line, m.ruleId])).toEqual([
      [2, '@figma/figma-plugins/ban-deprecated-sync-methods'],
      [3, '@figma/figma-plugins/ban-deprecated-sync-prop-setters'],
    ]);
  });
});
