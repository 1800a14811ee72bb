/**
 * The tokenizers a converted bundle needs are not inside the checkpoints: CLIP's BPE (tokenizer.json,
 * or vocab.json + merges.txt) and T5's Unigram (tokenizer.json, or spiece.model). They are looked for
 * in `--tokenizers DIR`, next to the checkpoints (diffusers folders, a ComfyUI install's own copies),
 * and in the Hugging Face cache; the first folder that holds the right kind wins.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkTokenizer, holdsTokenizer, importTokenizer, TOKENIZER_FILES, TOKENIZER_SOURCES, type TokenizerCheck, type TokenizerKind } from '../bundle/tokenizers.ts';
import { newTransferStats } from '../files/place.ts';

export interface TokenizerSearch {
  /** --tokenizers: a folder with tokenizer/ and tokenizer_2/ (diffusers layout), or clip/ and t5/. */
  dir?: string;
  /** Checkpoint files: their folders and the folders above are searched. */
  near: readonly string[];
  /** Hugging Face hub cache (default: $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  hubCache?: string | null;
}

/** Where each kind is published, and the folder names it goes by beside checkpoints. */
const WANTED: Readonly<Record<TokenizerKind, { name: string; published: string; folders: readonly string[] }>> = Object.freeze({
  clip: {
    name: 'CLIP-L',
    published: 'black-forest-labs/FLUX.1-dev (or FLUX.1-schnell) tokenizer/, or openai/clip-vit-large-patch14',
    folders: ['tokenizer', 'clip', 'clip_l', 'comfy/sd1_tokenizer'],
  },
  t5: {
    name: 'T5',
    published: 'black-forest-labs/FLUX.1-dev (or FLUX.1-schnell) tokenizer_2/, or google/t5-v1_1-xxl',
    folders: ['tokenizer_2', 't5', 't5xxl', 'comfy/t5_tokenizer', 'comfy/text_encoders/t5_tokenizer'],
  },
  qwen: {
    name: 'Qwen3',
    published: 'black-forest-labs/FLUX.2-klein-4B tokenizer/, or Qwen/Qwen3-4B',
    folders: ['tokenizer', 'qwen', 'qwen3', 'comfy/text_encoders/qwen25_tokenizer'],
  },
});

const HUB_REPOS: Readonly<Record<TokenizerKind, readonly [string, string][]>> = Object.freeze({
  clip: [['models--black-forest-labs--FLUX.1-dev', 'tokenizer'], ['models--black-forest-labs--FLUX.1-schnell', 'tokenizer'], ['models--black-forest-labs--FLUX.1-Krea-dev', 'tokenizer'], ['models--openai--clip-vit-large-patch14', '']],
  t5: [['models--black-forest-labs--FLUX.1-dev', 'tokenizer_2'], ['models--black-forest-labs--FLUX.1-schnell', 'tokenizer_2'], ['models--black-forest-labs--FLUX.1-Krea-dev', 'tokenizer_2'], ['models--google--t5-v1_1-xxl', '']],
  qwen: [['models--black-forest-labs--FLUX.2-klein-4B', 'tokenizer'], ['models--black-forest-labs--FLUX.2-klein-9B', 'tokenizer'], ['models--Qwen--Qwen3-4B', ''], ['models--Qwen--Qwen3-8B', '']],
});

export function defaultHubCache(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  return join(env.HF_HOME ?? join(homedir(), '.cache', 'huggingface'), 'hub');
}

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** Candidate folders, in the order they are tried. */
export function tokenizerCandidates(kind: TokenizerKind, search: TokenizerSearch): string[] {
  const out: string[] = [];
  const folders = WANTED[kind].folders;
  if (search.dir) out.push(...folders.map((f) => join(search.dir!, f)), search.dir);
  for (const file of search.near) {
    let dir = dirname(file);
    for (let up = 0; up < 4; up++, dir = dirname(dir)) out.push(...folders.map((f) => join(dir, f)));
  }
  const hub = search.hubCache === undefined ? defaultHubCache() : search.hubCache;
  if (hub) {
    for (const [repo, sub] of HUB_REPOS[kind]) {
      const snapshots = join(hub, repo, 'snapshots');
      if (!isDir(snapshots)) continue;
      for (const snapshot of readdirSync(snapshots).sort().reverse()) out.push(join(snapshots, snapshot, sub));
    }
  }
  return [...new Set(out)];
}

export function findTokenizer(kind: TokenizerKind, search: TokenizerSearch): string | null {
  return tokenizerCandidates(kind, search).find((dir) => isDir(dir) && holdsTokenizer(dir, kind)) ?? null;
}

export class TokenizerNotFoundError extends Error {
  constructor(readonly kinds: TokenizerKind[], searched: string[]) {
    const lines = kinds.map((k) => `${WANTED[k].name} tokenizer (${TOKENIZER_SOURCES[k].files}; published in ${WANTED[k].published})`);
    super(
      `the checkpoints do not include tokenizers, and none was found for: ${lines.join('; ')}. ` +
        `Put them in a folder as ${kinds.map((k) => `${TOKENIZER_SOURCES[k].folder}/`).join(' and ')} and pass --tokenizers <folder>. ` +
        `Looked in: ${searched.slice(0, 8).join(', ')}${searched.length > 8 ? `, and ${searched.length - 8} more` : ''}`,
    );
    this.name = 'TokenizerNotFoundError';
  }
}

/**
 * Finds every tokenizer `maxLength` names and writes each into its bundle folder (only the tokenizer
 * files are taken, never a model folder's weights), checked as the pipeline will load them.
 */
export async function writeTokenizers(bundle: string, search: TokenizerSearch, maxLength: Partial<Record<TokenizerKind, number>>): Promise<(TokenizerCheck & { from: string })[]> {
  const kinds = Object.keys(maxLength) as TokenizerKind[];
  const found = Object.fromEntries(kinds.map((kind) => [kind, findTokenizer(kind, search)]));
  const missing = kinds.filter((k) => !found[k]);
  if (missing.length) throw new TokenizerNotFoundError(missing, missing.flatMap((k) => tokenizerCandidates(k, search)));
  const results: (TokenizerCheck & { from: string })[] = [];
  for (const kind of kinds) {
    const from = found[kind]!;
    const picked = join(bundle, `.tokenizer-source-${kind}`);
    await mkdir(picked, { recursive: true });
    for (const file of TOKENIZER_FILES) if (existsSync(join(from, file))) await copyFile(join(from, file), join(picked, file));
    const folder = join(bundle, TOKENIZER_SOURCES[kind].folder);
    const imported = await importTokenizer(picked, folder, kind, newTransferStats());
    await rm(picked, { recursive: true, force: true });
    results.push({ ...checkTokenizer(folder, imported, maxLength[kind]!), from });
  }
  return results;
}
