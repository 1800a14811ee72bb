/**
 * No import circles inside the Figma side: each file's relative imports, type-only ones included (a
 * type in the wrong file is what makes a circle), form a graph without cycles.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Relative imports and re-exports of `file`, resolved to paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'|^\s*import\s+'(\.{1,2}\/[^']+)'/gms)].map((m) => m[1] ?? m[2]);
  return specifiers.map((specifier) => normalize(join(dirname(file), specifier)));
}

/** Every cycle found by a depth-first walk, each as the files along it. */
function cycles(files: string[]): string[][] {
  const graph = new Map(files.map((file) => [file, importsOf(file).filter((target) => files.includes(target))]));
  const found: string[][] = [];
  const done = new Set<string>();
  const walk = (file: string, path: string[]) => {
    const at = path.indexOf(file);
    if (at >= 0) return void found.push([...path.slice(at), file]);
    if (done.has(file)) return;
    for (const next of graph.get(file) ?? []) walk(next, [...path, file]);
    done.add(file);
  };
  for (const file of files) walk(file, []);
  return found;
}

const sources = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.tsx?$/.test(name))
    .map((name) => normalize(join(dir, name)));

describe('import graph', () => {
  it.each(['plugin', 'ui'])('%s/ has no import circle', (dir) => {
    expect(cycles(sources(dir))).toEqual([]);
  });

  it('finds a circle that runs through a type-only import', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dype-cycles-'));
    try {
      writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.ts';\nexport interface A { b: B }\n");
      writeFileSync(join(dir, 'b.ts'), "import { c } from './c.ts';\nexport interface B { c: typeof c }\n");
      writeFileSync(join(dir, 'c.ts'), "export {\n  type A,\n} from './a.ts';\nexport const c = 1;\n");
      writeFileSync(join(dir, 'd.ts'), "import './c.ts';\n");
      expect(cycles(sources(dir)).map((cycle) => cycle.map((file) => basename(file)))).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
