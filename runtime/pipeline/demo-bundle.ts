/** Where the embedded demo model lives, and building it on first use. */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeDemoBundle } from '../demo/index.ts';
import { BUNDLE_FILES } from './bundle.ts';

export function defaultDemoBundleDir(): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'dype', 'demo-model');
}

/** Builds the demo bundle into `dir` unless a complete one is already there; returns `dir`. */
export async function ensureDemoBundle(dir: string = defaultDemoBundleDir(), log: (line: string) => void = () => {}): Promise<string> {
  const complete = Object.values(BUNDLE_FILES).every((rel) => existsSync(join(dir, rel)));
  if (!complete) {
    log(`building the embedded demo model in ${dir} (untrained: its images are abstract)`);
    await writeDemoBundle(dir);
  }
  return dir;
}
