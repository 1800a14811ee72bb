/**
 * `dype convert --scan`: the checkpoints on this machine that `dype convert` can use, found in the
 * usual model folders of ComfyUI, Forge, InvokeAI, SwarmUI and the Hugging Face cache. Only headers
 * are read.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { recognise, type Recognised } from './architectures.ts';
import { checkpointQuantization, listSafetensors, readGgufCheckpoint, readSharded } from './inputs.ts';
import { formatBytes } from '../files/place.ts';
import { readSafetensorsHeader } from './safetensors.ts';
import { defaultHubCache } from './tokenizers.ts';

/** Model folders of the common FLUX front ends, relative to the home folder. */
export const USUAL_MODEL_FOLDERS = [
  'ComfyUI/models',
  'comfy/ComfyUI/models',
  'Documents/ComfyUI/models',
  'stable-diffusion-webui-forge/models',
  'invokeai/models',
  'SwarmUI/Models',
] as const;

export interface ScanEntry {
  file: string;
  size: number;
  components: Recognised[];
  /** GGUF files: the block type of most of the weights (Q4_K, Q8_0, …). */
  quantization?: string;
  /** Set when the header could not be read. */
  error?: string;
}

/** Where to look: the given folders, else the usual ones under `home` and the HF hub cache. */
export function scanRoots(extra: readonly string[], home = homedir(), hubCache = defaultHubCache()): string[] {
  if (extra.length) return [...extra];
  return [...USUAL_MODEL_FOLDERS.map((f) => join(home, f)), hubCache].filter((dir) => existsSync(dir));
}

/** Every *.safetensors and *.gguf under `roots` (to `depth` levels; HF snapshots are symlinks, followed). */
export async function scanCheckpoints(roots: readonly string[], depth = 6): Promise<ScanEntry[]> {
  const files: string[] = [];
  const indexes: string[] = [];
  const ggufs: string[] = [];
  for (const root of roots) {
    try {
      const listed = listSafetensors(root, depth);
      files.push(...listed.files);
      indexes.push(...listed.indexes);
      ggufs.push(...listed.gguf);
    } catch {
      // An unreadable root is left out, as the usual folders that do not exist are.
    }
  }
  const out: ScanEntry[] = [];
  const sharded = new Set<string>();
  for (const index of [...new Set(indexes)].sort()) {
    try {
      const checkpoint = await readSharded(index);
      for (const h of checkpoint.headers) sharded.add(h.file);
      out.push({ file: index, size: checkpoint.headers.reduce((n, h) => n + h.fileSize, 0), components: checkpoint.components });
    } catch (error) {
      out.push({ file: index, size: 0, components: [], error: (error as Error).message });
    }
  }
  for (const file of [...new Set(files)].sort()) {
    if (sharded.has(file)) continue;
    try {
      const header = await readSafetensorsHeader(file);
      out.push({ file, size: header.fileSize, components: recognise(header.tensors.keys()) });
    } catch (error) {
      out.push({ file, size: statSize(file), components: [], error: (error as Error).message });
    }
  }
  for (const file of [...new Set(ggufs)].sort()) {
    try {
      const checkpoint = await readGgufCheckpoint(file);
      out.push({ file, size: checkpoint.gguf!.fileSize, components: checkpoint.components, quantization: checkpointQuantization(checkpoint) ?? undefined });
    } catch (error) {
      out.push({ file, size: statSize(file), components: [], error: (error as Error).message });
    }
  }
  return out;
}

function statSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export function formatScan(roots: readonly string[], entries: readonly ScanEntry[]): string {
  if (roots.length === 0) return `no model folders found (looked for ${USUAL_MODEL_FOLDERS.map((f) => `~/${f}`).join(', ')} and the Hugging Face cache); pass folders to scan`;
  const lines = [`scanned ${roots.join(', ')}`];
  const known = entries.filter((e) => e.components.length);
  for (const e of known) {
    const what = e.components.map((c) => `${c.architecture.label}${c.prefix ? ` (under ${c.prefix})` : ''}${c.architecture.supported ? '' : ' — not supported yet'}`).join(' + ');
    lines.push(`${what.padEnd(40)} ${(e.quantization ?? '').padEnd(10)} ${formatBytes(e.size).padStart(10)}  ${e.file}`);
  }
  const others = entries.length - known.length;
  if (others) lines.push(`${others} other safetensors/GGUF file(s) (LoRAs, other models${entries.some((e) => e.error) ? ', unreadable ones' : ''}) left out`);
  if (!known.length) lines.push('no FLUX.1 or FLUX.2 components found');
  return lines.join('\n');
}
