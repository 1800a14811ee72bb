/**
 * Where the companion keeps its token, job records and images, and how the token is created. These
 * take explicit values only: the CLI reads $DYPE_DATA and $DYPE_TOKEN (commander's `.env()`, shown in
 * `dype serve --help`) and passes them in as `--data` and `--token`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const APP_DIR_NAME = 'dype';
export const TOKEN_FILE = 'token';
/** Explicit tokens shorter than this are refused: the token is the only thing guarding the API. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * The data folder: `explicit` (`--data`) if given and not empty, else the platform's per-user one:
 * Linux `$XDG_DATA_HOME/dype` (default `~/.local/share/dype`), macOS `~/Library/Application Support/dype`,
 * Windows `%APPDATA%\dype`.
 */
export function resolveDataDir(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (explicit) return explicit;
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', APP_DIR_NAME);
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), APP_DIR_NAME);
  return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), APP_DIR_NAME);
}

/**
 * The API token. An explicit one (`--token`) wins if not empty, and is not stored. Otherwise the token
 * file in `dataDir` is read, or created on first start: 32 random bytes, base64url, mode 0600.
 */
export async function loadOrCreateToken(dataDir: string, explicit?: string): Promise<string> {
  if (explicit) {
    const token = explicit.trim();
    if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      throw new Error(`The token must be at least ${MIN_TOKEN_LENGTH} characters without spaces (got ${token.length}).`);
    }
    return token;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, TOKEN_FILE);
  const existing = await readToken(path);
  if (existing) return existing;

  const token = randomBytes(32).toString('base64url');
  // Write beside, then link: link fails if another instance created the file meanwhile, and then theirs wins.
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, `${token}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, path);
    return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const theirs = await readToken(path);
    if (theirs) return theirs;
    await writeFile(path, `${token}\n`, { mode: 0o600 });
    return token;
  } finally {
    await rm(temp, { force: true });
  }
}

async function readToken(path: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_LENGTH) return null;
  if (process.platform !== 'win32') await chmod(path, 0o600).catch(() => {});
  return token;
}
