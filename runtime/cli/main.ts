/** `dype` command line: generate, demo-model, info, import, convert, pull, models, serve. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { generateCommand } from './generate.ts';
import { demoModelCommand, infoCommand } from './model.ts';
import { registerImportCommand } from './import.ts';
import { registerConvertCommand } from './convert.ts';
import { serveCommand } from './serve.ts';
import { registerPullCommands } from './pull.ts';
import type { z } from 'zod';
import { AUTO_DYPE_RULE, fields, GENERATION_DEFAULTS, GENERATION_METHODS, IMAGE_FORMATS, MAX_DYPE_EXPONENT, MAX_DYPE_SCALE, YARN_SCALINGS } from '../contract/index.ts';
import { DEVICES } from '../pipeline/providers.ts';
import { MEMORY_MODES } from '../memory/plan.ts';

export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** Parses an option with the contract's schema for that field, so the CLI, the companion and the plugin share one rule. */
function fieldArg<T>(name: string, schema: z.ZodType<T>, read: (value: string) => unknown = (v) => (v.trim() === '' ? Number.NaN : Number(v))) {
  return (value: string): T => {
    const parsed = schema.safeParse(read(value));
    if (!parsed.success) throw new InvalidArgumentError(`${name} ${parsed.error.issues[0]?.message ?? 'is not valid'}`);
    return parsed.data;
  };
}

const modelOption = () => new Option('--model <name|dir>', 'an installed model (dype models) or a bundle folder (default: the active model, else the embedded demo model)').env('DYPE_MODEL');
const deviceOption = () => new Option('--device <name>', 'execution provider').choices(DEVICES).default('auto');
const memoryOption = () =>
  new Option('--memory <mode>', 'keep every stage loaded (high), release each stage after it runs (low), or let the memory plan decide (auto)').choices(MEMORY_MODES).default('auto');
const gpuMemoryOption = () =>
  new Option('--gpu-memory <GB>', 'GPU memory to plan with, in GB (where it cannot be found, e.g. WebGPU without nvidia-smi, or to leave room for other programs)').argParser((value: string) => {
    const gb = Number(value);
    if (!Number.isFinite(gb) || gb <= 0 || gb > 4096) throw new InvalidArgumentError('--gpu-memory must be a number of GB above 0');
    return gb;
  });

const program = new Command('dype')
  .description('DyPE companion: ultra-high-resolution images from FLUX-family models, for Figma')
  .showHelpAfterError();

program
  .command('generate')
  .description('generate one image')
  .requiredOption('-p, --prompt <text>', 'what to draw', fieldArg('prompt', fields.prompt, (v) => v))
  .option('-W, --width <px>', 'output width in pixels', fieldArg('width', fields.side), 1024)
  .option('-H, --height <px>', 'output height in pixels', fieldArg('height', fields.side), 1024)
  .option('--seed <n>', 'random seed (same seed, same image)', fieldArg('seed', fields.seed))
  .option('--steps <n>', 'denoising steps (default: the model’s)', fieldArg('steps', fields.steps))
  .addOption(new Option('--method <name>', 'position encoding; dy-* rescale per step (DyPE)').choices(GENERATION_METHODS).default(GENERATION_DEFAULTS.method))
  .option('--dype-scale <λs>', `DyPE strength λs, 0–${MAX_DYPE_SCALE} (default: the model’s, usually 2)`, fieldArg('dype-scale', fields.dypeScale))
  .option('--dype-exponent <λt|auto>', `how fast DyPE fades, λt 0–${MAX_DYPE_EXPONENT}, or auto by the scale over native: ${AUTO_DYPE_RULE} (default: the model’s)`, fieldArg('dype-exponent', fields.dypeExponent, (v) => (v === 'auto' ? v : v.trim() === '' ? Number.NaN : Number(v))))
  .addOption(new Option('--yarn-scaling <kind>', 'yarn/dy-yarn on non-square sizes: each axis by its own length, or both by the longer').choices(YARN_SCALINGS).default(GENERATION_DEFAULTS.yarnScaling))
  .option('--guidance <scale>', 'guidance scale (models with a guidance embedding)', fieldArg('guidance', fields.guidance))
  .addOption(modelOption())
  .addOption(deviceOption())
  .addOption(memoryOption())
  .addOption(gpuMemoryOption())
  .addOption(new Option('--format <fmt>', 'image format (default: from the output name)').choices(IMAGE_FORMATS))
  .requiredOption('-o, --output <file>', 'where to write the image')
  .option('--no-progress', 'no progress bar')
  .action(generateCommand);

program
  .command('demo-model')
  .description('write the embedded demo bundle (a tiny untrained FLUX-style model; its images are abstract)')
  .argument('<dir>', 'folder to write')
  .action(demoModelCommand);

program
  .command('info')
  .description('show a bundle, its transformer contract, the available execution providers and the memory plan')
  .addOption(modelOption())
  .addOption(deviceOption())
  .addOption(memoryOption())
  .addOption(gpuMemoryOption())
  .option('-W, --width <px>', 'plan for this width as well as the native size', fieldArg('width', fields.side))
  .option('-H, --height <px>', 'plan for this height as well as the native size', fieldArg('height', fields.side))
  .action(infoCommand);

registerImportCommand(program);
registerConvertCommand(program);
registerPullCommands(program);

program
  .command('serve')
  .description('start the companion HTTP service on localhost (127.0.0.1 and ::1) for the Figma plugin')
  .option('--port <n>', 'port on localhost', intArg('port', 1, 65535), 7860)
  .addOption(modelOption())
  .addOption(deviceOption())
  .addOption(memoryOption())
  .addOption(gpuMemoryOption())
  // the only place DYPE_DATA and DYPE_TOKEN are read; the server takes explicit values
  .addOption(new Option('--data <dir>', 'data folder for images, job records and the token (default: the platform’s per-user data folder)').env('DYPE_DATA'))
  .addOption(new Option('--token <token>', 'fixed API token for scripted use (default: generated once, stored in the data folder)').env('DYPE_TOKEN'))
  .action(serveCommand);

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
