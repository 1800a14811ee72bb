/** `dype import <export-dir> -o <bundle-dir>`: a FLUX.1 ONNX export → a DyPE-ready bundle. */
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { formatImportReport, importExport } from '../import/index.ts';
import { DEVICES, type Device } from '../pipeline/providers.ts';

export interface ImportCliOptions {
  output: string;
  name?: string;
  verify: boolean;
  fuseAttention?: boolean;
  force?: boolean;
  copy?: boolean;
  device: Device;
}

export async function importCommand(exportDir: string, opts: ImportCliOptions): Promise<void> {
  const report = await importExport(resolve(exportDir), {
    output: resolve(opts.output),
    name: opts.name,
    verify: opts.verify,
    fuseAttention: opts.fuseAttention ?? false,
    force: opts.force ?? false,
    copy: opts.copy ?? false,
    device: opts.device,
    log: (line) => console.error(line),
  });
  console.log(formatImportReport(report));
}

export function registerImportCommand(program: Command): Command {
  return program
    .command('import')
    .description('turn a FLUX.1 ONNX export (optimum layout) into a DyPE-ready bundle: RoPE becomes rope_omega/rope_mscale inputs')
    .argument('<export-dir>', 'the export folder (transformer/, text_encoder/, text_encoder_2/, vae_decoder/, tokenizer/, tokenizer_2/, scheduler/)')
    .requiredOption('-o, --output <bundle-dir>', 'bundle folder to create')
    .option('--name <name>', 'bundle name in dype.json (default: the export folder name)')
    .option('--no-verify', 'skip the self-check (original vs imported transformer on a small input)')
    .option('--fuse-attention', 'rewrite unfused attention to com.microsoft.MultiHeadAttention (needed for 4K on most machines)')
    .option('--force', 'replace an existing, non-empty bundle folder')
    .option('--copy', 'copy weight files instead of hard-linking them')
    .addOption(new Option('--device <name>', 'execution provider for the self-check').choices(DEVICES).default('cpu'))
    .action(importCommand);
}
