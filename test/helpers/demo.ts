import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDemoBundle, type DemoBundleOptions } from '../../runtime/demo/index.ts';

/** Writes a fresh demo bundle to a temp folder; call the returned cleanup in afterAll. */
export async function tempDemoBundle(options?: DemoBundleOptions): Promise<{ dir: string; cleanup: () => void }> {
  const root = mkdtempSync(join(tmpdir(), 'dype-demo-'));
  const dir = join(root, 'bundle');
  await writeDemoBundle(dir, options);
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
