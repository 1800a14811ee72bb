/** Where the embedded demo model lives, and building (or rebuilding) it on first use. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { demoBundleFiles, writeDemoBundle } from './index.ts';
import { writeFileAtomic } from '../files/atomic.ts';

/** Records which build of the demo model a folder holds, so an upgrade rebuilds a stale one. */
const STAMP_FILE = '.demo-build';

export function defaultDemoBundleDir(): string {
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cache, 'dype', 'demo-model');
}

function demoFingerprint(): string {
  const hash = createHash('sha256');
  for (const [path, bytes] of [...demoBundleFiles()].sort(([a], [b]) => a.localeCompare(b))) hash.update(path).update(bytes);
  return hash.digest('hex');
}

/** Builds the demo bundle into `dir` unless this version's build is already there; returns `dir`. */
export async function ensureDemoBundle(dir: string = defaultDemoBundleDir(), log: (line: string) => void = () => {}): Promise<string> {
  const stampPath = join(dir, STAMP_FILE);
  const fingerprint = demoFingerprint();
  const current = existsSync(stampPath) ? readFileSync(stampPath, 'utf8').trim() : null;
  if (current !== fingerprint) {
    log(`${current ? 'rebuilding' : 'building'} the embedded demo model in ${dir} (untrained: its images are abstract)`);
    await writeDemoBundle(dir);
    await writeFileAtomic(stampPath, `${fingerprint}\n`);
  }
  return dir;
}
