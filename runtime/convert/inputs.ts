/**
 * What the user pointed `dype convert` at, as checkpoints: single safetensors files, sharded
 * ones (diffusers' `*.safetensors.index.json` + shards) as one checkpoint, and GGUF files. Folders are searched two
 * levels deep, so a diffusers model folder (transformer/, vae/, text_encoder/, text_encoder_2/) and
 * a ComfyUI models folder both work. Every header is read and checked; no tensor data is read.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { recognise, type Recognised } from './architectures.ts';
import { GGUF_SUFFIX, GgufError, quantizationLabel, readGgufHeader, type GgufHeader } from './gguf/read.ts';
import { readSafetensorsHeader, SafetensorsError, type SafetensorsHeader } from './safetensors.ts';

/** One checkpoint: a file, or the shards of one index. */
export interface Checkpoint {
  /** The file, or the index json of a sharded checkpoint. */
  path: string;
  headers: SafetensorsHeader[];
  /** A GGUF file's header (`headers` is then empty). */
  gguf?: GgufHeader;
  components: Recognised[];
}

/** The quantization a checkpoint's weights are stored in, for --scan and the report: GGUF's block type, else null. */
export function checkpointQuantization(c: Pick<Checkpoint, 'gguf'>): string | null {
  return c.gguf ? quantizationLabel(c.gguf.tensors.values()) : null;
}

/** The keys a checkpoint holds, whatever its format. */
export function checkpointKeys(c: Pick<Checkpoint, 'headers' | 'gguf'>): string[] {
  return c.gguf ? [...c.gguf.tensors.keys()] : c.headers.flatMap((h) => [...h.tensors.keys()]);
}

export async function readGgufCheckpoint(file: string): Promise<Checkpoint> {
  const gguf = await readGgufHeader(file);
  return { path: file, headers: [], gguf, components: recognise(gguf.tensors.keys()) };
}

export class ConvertInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConvertInputError';
  }
}

export const SHARD_INDEX_SUFFIX = '.safetensors.index.json';
const MAX_DEPTH = 2;

const indexSchema = z.object({ weight_map: z.record(z.string(), z.string()) });

/** Reads a sharded checkpoint's index; every shard must exist and hold exactly the keys the index gives it. */
export async function readSharded(index: string): Promise<Checkpoint> {
  let parsed: z.infer<typeof indexSchema>;
  try {
    parsed = indexSchema.parse(JSON.parse(readFileSync(index, 'utf8')));
  } catch (error) {
    throw new ConvertInputError(`${index}: not a safetensors index (expected {"weight_map": {tensor: shard file}}): ${(error as Error).message}`);
  }
  const shards = [...new Set(Object.values(parsed.weight_map))].sort();
  const headers: SafetensorsHeader[] = [];
  for (const shard of shards) {
    if (shard !== basename(shard)) throw new ConvertInputError(`${index}: shard ${shard} must be a file name beside the index`);
    const file = join(dirname(index), shard);
    if (!existsSync(file)) throw new ConvertInputError(`${index} lists shard ${shard}, which is missing (${file})`);
    headers.push(await readSafetensorsHeader(file));
  }
  for (const [key, shard] of Object.entries(parsed.weight_map)) {
    const header = headers[shards.indexOf(shard)];
    if (!header.tensors.has(key)) throw new ConvertInputError(`${index} puts tensor ${key} in ${shard}, but ${header.file} does not hold it: the shards do not match the index`);
  }
  return checkpoint(index, headers);
}

function checkpoint(path: string, headers: SafetensorsHeader[]): Checkpoint {
  return { path, headers, components: recognise(headers.flatMap((h) => [...h.tensors.keys()])) };
}

/** The *.safetensors files, shard indexes and *.gguf files under one folder, sorted. */
export interface FolderListing {
  files: string[];
  indexes: string[];
  gguf: string[];
}

/**
 * Lists the safetensors files and shard indexes under `dir`, `depth` folder levels down. Symlinks are
 * followed (the Hugging Face cache's snapshots/* point into ../../blobs); hidden entries and `blobs`
 * folders are skipped, as are subfolders that cannot be read. A dangling `.safetensors` link is
 * listed, so that reading it reports it.
 */
export function listSafetensors(dir: string, depth: number): FolderListing {
  const out: FolderListing = { files: [], indexes: [], gguf: [] };
  const walk = (folder: string, left: number, top: boolean) => {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch (error) {
      if (top) throw error;
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const path = join(folder, name);
      let stats;
      try {
        stats = statSync(path);
      } catch {
        if (name.endsWith('.safetensors')) out.files.push(path);
        else if (name.endsWith(GGUF_SUFFIX)) out.gguf.push(path);
        continue;
      }
      if (stats.isFile() && name.endsWith('.safetensors')) out.files.push(path);
      else if (stats.isFile() && name.endsWith(GGUF_SUFFIX)) out.gguf.push(path);
      else if (stats.isFile() && name.endsWith(SHARD_INDEX_SUFFIX)) out.indexes.push(path);
      else if (stats.isDirectory() && left > 0 && name !== 'blobs') walk(path, left - 1, false);
    }
  };
  walk(dir, depth, true);
  out.files.sort();
  out.indexes.sort();
  out.gguf.sort();
  return out;
}

/** The checkpoints in one folder (and its subfolders, to MAX_DEPTH). */
async function readFolder(dir: string, out: Checkpoint[]): Promise<void> {
  const { files, indexes, gguf } = listSafetensors(dir, MAX_DEPTH);
  const sharded = new Set<string>();
  for (const index of indexes) {
    const found = await readSharded(index);
    for (const h of found.headers) sharded.add(h.file);
    out.push(found);
  }
  for (const file of files) if (!sharded.has(file)) out.push(checkpoint(file, [await readSafetensorsHeader(file)]));
  for (const file of gguf) out.push(await readGgufCheckpoint(file));
}

/** Files and folders → checkpoints, each with the components recognised in it. */
export async function readInputs(paths: readonly string[]): Promise<Checkpoint[]> {
  const out: Checkpoint[] = [];
  for (const raw of paths) {
    const path = resolve(raw);
    if (!existsSync(path)) throw new ConvertInputError(`${path} does not exist`);
    try {
      if (statSync(path).isDirectory()) await readFolder(path, out);
      else if (path.endsWith(SHARD_INDEX_SUFFIX)) out.push(await readSharded(path));
      else if (path.endsWith(GGUF_SUFFIX)) out.push(await readGgufCheckpoint(path));
      else out.push(checkpoint(path, [await readSafetensorsHeader(path)]));
    } catch (error) {
      if (error instanceof SafetensorsError || error instanceof GgufError || error instanceof ConvertInputError) throw error;
      throw new ConvertInputError(`${path}: ${(error as Error).message}`);
    }
  }
  const seen = new Set<string>();
  return out.filter((c) => (seen.has(c.path) ? false : (seen.add(c.path), true)));
}
