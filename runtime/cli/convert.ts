/** `dype convert <files or folders…> -o <bundle>`: FLUX.1 or FLUX.2 [klein] safetensors checkpoints → a DyPE-ready bundle. */
import { TOKENIZER_SOURCES } from '../bundle/tokenizers.ts';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { convertCheckpoints, type ConvertReport } from '../convert/index.ts';
import { formatBytes } from '../files/place.ts';
import { DTYPE_BYTES, type SafetensorsDtype } from '../convert/safetensors.ts';
import { QUANTIZE_MODES, type QuantizeMode } from '../convert/quantize.ts';
import { formatScan, scanCheckpoints, scanRoots } from '../convert/scan.ts';

export interface ConvertCliOptions {
  output?: string;
  name?: string;
  tokenizers?: string;
  force?: boolean;
  copy: boolean;
  scan?: boolean;
  quantize?: string;
}

export async function convertCommand(paths: string[], opts: ConvertCliOptions): Promise<void> {
  if (opts.scan) {
    const roots = scanRoots(paths.map((p) => resolve(p)));
    console.log(formatScan(roots, await scanCheckpoints(roots)));
    return;
  }
  if (!opts.output) throw new Error('missing -o, --output <bundle-dir>: the bundle folder to create');
  const report = await convertCheckpoints(paths, {
    output: resolve(opts.output),
    name: opts.name,
    tokenizers: opts.tokenizers,
    force: opts.force ?? false,
    noCopy: !opts.copy,
    quantize: parseQuantize(opts.quantize),
    log: (line) => console.error(line),
  });
  console.log(formatConvertReport(report));
}

function parseQuantize(value: string | undefined): QuantizeMode | undefined {
  if (value === undefined) return undefined;
  if (!(QUANTIZE_MODES as readonly string[]).includes(value)) throw new Error(`--quantize ${value}: use ${QUANTIZE_MODES.join(' or ')}`);
  return value as QuantizeMode;
}

export function formatConvertReport(r: ConvertReport): string {
  const lines = [`converted → ${r.bundleDir}`, `model        ${r.model}`];
  let float32Bytes = 0;
  let packedBytes = 0;
  let widened = false;
  for (const c of r.components) {
    const dtypes = Object.entries(c.dtypes)
      .map(([dtype, n]) => `${n.tensors} ${dtype}${n.cast ? ` (Cast to float32 at load${n.scaled ? `, ${n.scaled} scaled` : ''})` : ''}`)
      .join(', ');
    const blocks = c.quantization ? `${dtypes ? '; ' : ''}${c.quantization} → MatMulNBits blocks in weights.bin (${formatBytes(c.packedBytes)})` : '';
    lines.push(`${c.kind.padEnd(12)} ${c.folders.join(' + ')} ← ${c.files.join(', ')}: ${dtypes}${blocks}`);
    packedBytes += c.packedBytes;
    for (const [dtype, n] of Object.entries(c.dtypes)) {
      float32Bytes += (n.bytes / DTYPE_BYTES[dtype as SafetensorsDtype]) * 4;
      widened ||= n.cast > 0;
    }
  }
  lines.push(
    `precision    the graphs compute in float32${widened ? ': bf16/fp16/fp8 weights are widened once, when a session is created (onnxruntime folds the Casts), because CPUs have no bf16/fp8 kernels' : ''}; ` +
      `all models together hold about ${formatBytes(float32Bytes)} of float32 weights in memory` +
      (packedBytes ? `, plus ${formatBytes(packedBytes)} kept as written in weights.bin (quantized blocks stay blocks)` : ''),
  );
  const how = new Map<string, number>();
  for (const p of r.placed) how.set(p.how, (how.get(p.how) ?? 0) + 1);
  lines.push(`files        ${[...how].map(([k, n]) => `${n} ${k}`).join(', ')}; extra disk ${formatBytes(r.extraBytes)}`);
  for (const tk of r.tokenizers) lines.push(`tokenizer    ${TOKENIZER_SOURCES[tk.kind].label} from ${tk.from} (${tk.source})`);
  lines.push(`rope         axes ${r.config.rope.axesDim.join('/')}, θ ${r.config.rope.theta}: rope_omega + rope_mscale inputs (DyPE)`);
  lines.push(`defaults     ${r.config.defaults.steps} steps, guidance ${r.config.defaults.guidance ?? 'none'}, ${Object.entries(r.config.text).map(([key, n]) => `${key} ${n}`).join(', ')} tokens`);
  for (const d of r.defaultsUsed) lines.push(`default      ${d}`);
  if (r.ignored.length) lines.push(`ignored      ${r.ignored.length} other checkpoint(s) in the given folders`);
  return lines.join('\n');
}

export function registerConvertCommand(program: Command): Command {
  return program
    .command('convert')
    .description('build a DyPE-ready bundle from FLUX.1 (transformer, ae, clip_l, t5xxl) or FLUX.2 [klein] (transformer, flux2-vae, qwen_3) safetensors checkpoints without copying weights')
    .argument('[paths...]', 'checkpoint files and/or folders (a diffusers FLUX.1 folder, a ComfyUI models folder, …)')
    .option('-o, --output <bundle-dir>', 'bundle folder to create')
    .option('--name <name>', 'bundle name in dype.json (default: the bundle folder name)')
    .option('--tokenizers <dir>', 'folder with tokenizer/ (CLIP, or Qwen3 for FLUX.2) and tokenizer_2/ (T5) when they are not found next to the checkpoints or in the Hugging Face cache')
    .option('--force', 'replace an existing bundle folder')
    .option('--no-copy', 'fail instead of copying a checkpoint that cannot be hard-linked or reflinked into the bundle')
    .option('--scan', 'list the checkpoints found in the usual model folders (or in the given ones) and what each is')
    .option('--quantize <q8|q4>', 'block-quantize the transformer and T5 weights of float checkpoints (bf16, fp16, fp8) as GGUF Q8_0 / Q4_0 do')
    .action(convertCommand);
}
