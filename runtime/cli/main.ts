import { Command } from 'commander';

const program = new Command('dype').description('DyPE companion: ultra-high-resolution FLUX generation for Figma');
program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
