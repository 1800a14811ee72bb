/**
 * Builds the Figma side: plugin/main.ts → dist/plugin.js, and ui/ → one self-contained
 * dist/ui.html (Figma loads the UI as a single HTML string, so JS and CSS are inlined).
 */
import { build, type Plugin } from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist/`;

/**
 * zod's `z` namespace re-exports every translation of its error messages (about 270 kB); the
 * contract uses only its own messages, so the bundles get an empty module in their place. (The rest
 * of zod shrinks by itself when it is imported as `import * as z from 'zod'`: esbuild then keeps only
 * what is used, about half; `import { z }` keeps it all.)
 */
const withoutZodLocales: Plugin = {
  name: 'without-zod-locales',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) => (args.importer.includes('/node_modules/zod/') ? { path: 'zod-locales', namespace: 'empty' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

export async function buildFigma(outDir = dist): Promise<{ pluginJs: string; uiHtml: string }> {
  await mkdir(outDir, { recursive: true });
  const pluginJs = `${outDir}plugin.js`;
  await build({
    entryPoints: [`${root}plugin/main.ts`],
    bundle: true,
    outfile: pluginJs,
    // Figma's main-thread sandbox runs an older JS engine subset.
    target: 'es2017',
    format: 'iife',
    minify: true,
    plugins: [withoutZodLocales],
    logLevel: 'warning',
  });

  const ui = await build({
    entryPoints: [`${root}ui/main.tsx`],
    bundle: true,
    write: false,
    outdir: outDir,
    target: 'es2020',
    format: 'iife',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    loader: { '.png': 'dataurl', '.svg': 'dataurl' },
    plugins: [withoutZodLocales],
    logLevel: 'warning',
  });
  const js = ui.outputFiles.find((f) => f.path.endsWith('.js'))?.text ?? '';
  const css = ui.outputFiles.find((f) => f.path.endsWith('.css'))?.text ?? '';
  const template = await readFile(`${root}ui/index.html`, 'utf8');
  // Escape "</script" so the inlined bundle cannot close its own tag.
  const html = template
    .replace('<!--STYLE-->', () => `<style>${css}</style>`)
    .replace('<!--SCRIPT-->', () => `<script>${js.replace(/<\/script/gi, '<\\/script')}</script>`);
  const uiHtml = `${outDir}ui.html`;
  await writeFile(uiHtml, html);
  return { pluginJs, uiHtml };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildFigma();
  console.log(`built ${out.pluginJs} and ${out.uiHtml}`);
}
