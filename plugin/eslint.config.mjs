/**
 * Figma's own lint for plugin code (@figma/eslint-plugin-figma-plugins, recommended rules): deprecated
 * synchronous API, id parameters, awaits outside async functions, dynamic-page advice. Run by
 * `npm run lint` (part of `npm test`), warnings included.
 *
 * Its rules need type information from TypeScript's JavaScript API, which this project's compiler
 * (TypeScript 7, native) does not have; @typescript-eslint/parser would need TypeScript 5 as the
 * project's compiler. The Figma lint brings its own TypeScript 5 and typescript-estree, nested under
 * it, so the code is parsed with those, and every `typescript` that the lint's helpers ask for in this
 * process (ts-api-utils is installed at the top, next to TypeScript 7) is that TypeScript 5.
 */
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fromFigmaLint = createRequire(createRequire(import.meta.url).resolve('@figma/eslint-plugin-figma-plugins'));
const typescript5 = fromFigmaLint.resolve('typescript');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolveFilename.call(this, request === 'typescript' ? typescript5 : request, ...rest);
};
// loaded only now, after the redirect
const figmaPlugins = fromFigmaLint('@figma/eslint-plugin-figma-plugins');
const { parseAndGenerateServices } = fromFigmaLint('@typescript-eslint/typescript-estree');
const { analyze } = fromFigmaLint('@typescript-eslint/scope-manager');
const { visitorKeys } = fromFigmaLint('@typescript-eslint/visitor-keys');

/** An ESLint parser: the typed AST, its scopes, and the services (TypeScript program) the rules ask for. */
const typedParser = {
  meta: { name: 'typescript-estree via @figma/eslint-plugin-figma-plugins' },
  parseForESLint(code, options) {
    const { ast, services } = parseAndGenerateServices(code, { ...options, comment: true, tokens: true, range: true, loc: true });
    return { ast, services, visitorKeys, scopeManager: analyze(ast, { sourceType: 'module' }) };
  },
};

export default [
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: typedParser,
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: here },
    },
    ...figmaPlugins.flatConfigs.recommended,
  },
];
