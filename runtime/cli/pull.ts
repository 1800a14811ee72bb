/**
 * `dype pull <name | hf:owner/repo[/path]>` and `dype models`: the CLI face of runtime/models. Bars per
 * file and in total (cli-progress) with rate and time left; Ctrl-C stops at once, keeping the partial
 * file, and the same command resumes it.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { Option } from 'commander';
import { formatBytes } from '../files/place.ts';
import { familyFacts, loadCatalog } from '../models/catalog.ts';
import { defaultHubCache } from '../models/hf-cache.ts';
import { HubError, hubConfigFromEnv } from '../models/hub.ts';
import { installModel, type InstallEvent } from '../models/install.ts';
import { activeModelDir, listInstalled, readActive, setActive } from '../models/installed.ts';
import { catalogMemory, fitsMachine, thisMachine } from '../models/memory.ts';
import { resolveDataDir } from '../server/data-dir.ts';

interface PullCliOptions {
  token?: string;
  data?: string;
  progress: boolean;
}

/** Draws the bars from install events: one per file being fetched, and one for the whole pull. */
function progressView(enabled: boolean): { onEvent: (event: InstallEvent) => void; stop: () => void } {
  const multi = enabled ? new MultiBar({ format: '{name} [{bar}] {percentage}% | {done} of {size} | {rate}/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50 }, Presets.shades_classic) : null;
  let total: SingleBar | null = null;
  let base = 0;
  const done = new Map<string, number>();
  const started = Date.now();
  let current: { key: string; bar: SingleBar | null } | null = null;
  const log = (line: string) => (multi ? multi.log(`${line}\n`) : console.error(line));
  const payload = (name: string, have: number, size: number) => ({ name: name.length > 40 ? `…${name.slice(-39)}` : name.padEnd(40), done: formatBytes(have), size: formatBytes(size), rate: formatBytes(Math.max(0, sum() - base) / Math.max(0.001, (Date.now() - started) / 1000)) });
  const sum = () => [...done.values()].reduce((a, b) => a + b, 0);
  return {
    onEvent(event) {
      switch (event.kind) {
        case 'plan': {
          for (const f of event.files) done.set(`${f.repo}/${f.path}`, f.have);
          base = sum();
          const present = event.files.filter((f) => f.present).length;
          log(`${event.files.length} file(s), ${formatBytes(event.totalBytes)}; ${present} already here${event.neededBytes ? `, ${formatBytes(event.neededBytes)} to fetch` : ''}`);
          total = multi?.create(event.totalBytes, base, payload('total', base, event.totalBytes)) ?? null;
          break;
        }
        case 'file': {
          const key = `${event.repo}/${event.path}`;
          done.set(key, event.have);
          if (current?.key !== key) {
            current = { key, bar: multi?.create(event.size, event.have, payload(event.path, event.have, event.size)) ?? null };
            if (!multi) log(`fetching ${key}${event.have ? ` from byte ${event.have}` : ''}`);
          }
          current.bar?.update(event.have, payload(event.path, event.have, event.size));
          total?.update(sum(), payload('total', sum(), total.getTotal()));
          break;
        }
        case 'verify':
          if (!multi) log(`checking ${event.repo}/${event.path}`);
          break;
        case 'done-file':
          if (current?.key === `${event.repo}/${event.path}` && current.bar) multi?.remove(current.bar);
          if (event.transferred || !event.skipped) log(`${event.skipped ? 'present ' : 'verified'} ${event.repo}/${event.path}`);
          break;
        case 'retry':
          log(`connection lost on ${event.repo}/${event.path} (${event.reason}); resuming`);
          break;
        case 'convert':
          log(event.line);
          break;
        case 'installed':
          log(`installed ${event.name} in ${event.dir}${event.active ? ' (now the active model)' : ''}`);
          break;
      }
    },
    stop: () => multi?.stop(),
  };
}

export async function pullCommand(spec: string, opts: PullCliOptions): Promise<void> {
  const dataDir = resolveDataDir(opts.data);
  const controller = new AbortController();
  // the first Ctrl-C stops the download at once (the partial file stays); a second one leaves whatever is running
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const view = progressView(opts.progress && process.stderr.isTTY === true);
  try {
    const result = await installModel(spec, { hub: hubConfigFromEnv(process.env, opts.token), cacheDir: defaultHubCache(), dataDir, signal: controller.signal, onEvent: view.onEvent });
    view.stop();
    console.log(`pulled ${formatBytes(result.pulled.transferredBytes)} (${result.pulled.plan.files.length} file(s) in ${[...result.pulled.snapshots.values()].join(', ')})`);
    if (result.bundle) console.log(`model ${result.bundle.name} → ${result.bundle.dir}${result.bundle.active ? ' (active)' : `; make it active with: dype models --use ${result.bundle.name}`}`);
  } catch (error) {
    view.stop();
    if (error instanceof HubError && error.code === 'cancelled') {
      console.error(`stopped. Run the same command to resume: dype pull ${spec}`);
      process.exitCode = 130;
      return;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

interface ModelsCliOptions {
  data?: string;
  use?: string;
}

export async function modelsCommand(opts: ModelsCliOptions): Promise<void> {
  const dataDir = resolveDataDir(opts.data);
  if (opts.use) {
    const dir = await setActive(dataDir, opts.use);
    console.log(`active model: ${opts.use} (${dir}); npm start loads it`);
    return;
  }
  const active = activeModelDir(dataDir);
  const installed = listInstalled(dataDir);
  const lines = [`installed (${installed.length ? installed.length : 'none yet'}) in ${dataDir}/models:`];
  for (const m of installed) {
    const mark = m.dir === active ? '*' : ' ';
    lines.push(` ${mark} ${m.name.padEnd(22)} ${(m.catalog?.label ?? m.config.description) || m.config.name}${m.catalog ? `, ${m.catalog.quantization}, ${m.catalog.licence.name}` : ''}`);
  }
  if (active && !installed.some((m) => m.dir === active)) lines.push(` * ${readActive(dataDir)} (a bundle folder)`);
  if (!active) lines.push('   no active model: npm start uses the embedded demo model');
  const { provider, machine } = await thisMachine();
  const gpu = machine.gpuBytes !== null ? ` and ${formatBytes(machine.gpuBytes)} of GPU memory (${machine.gpuSource})` : '';
  lines.push('', `catalog (dype pull <name>); this machine has ${formatBytes(machine.ramBytes)} of RAM${gpu}; what fits is judged on ${provider} by the memory planner:`);
  for (const m of loadCatalog().models) {
    const facts = familyFacts(m);
    const memory = catalogMemory(m);
    const fits = fitsMachine(m, machine, provider);
    const needs = memory ? `needs ≥ ${formatBytes(memory.cpu.ramBytes)} RAM on the CPU, or ${formatBytes(memory.gpu.gpuBytes)} GPU + ${formatBytes(memory.gpu.ramBytes)} RAM` : 'memory not planned for this family yet';
    lines.push(`   ${m.name.padEnd(20)} ${m.label.padEnd(38)} ${m.licence.name}${m.gated ? ' (gated: accept on its page)' : ''}; ${facts.nativeSize}² px, ${facts.defaultSteps} steps; ${needs}: ${fits === null ? 'unknown' : fits ? 'fits' : 'too big'}`);
  }
  for (const e of loadCatalog().textEncoders) lines.push(`   ${e.name.padEnd(20)} ${e.label} (${e.licence.name})`);
  lines.push('', 'also: dype pull hf:<owner>/<repo> (its checkpoints and tokenizers, converted) or hf:<owner>/<repo>/<file>');
  console.log(lines.join('\n'));
}

const dataOption = () => new Option('--data <dir>', 'data folder: installed models go to <data>/models (default: the platform’s per-user data folder)').env('DYPE_DATA');

export function registerPullCommands(program: Command): void {
  program
    .command('pull')
    .description('download a model from the Hugging Face Hub (resumable, verified) and convert it: a catalog name (see dype models) or hf:<owner>/<repo>[/<path>]')
    .argument('<model>', 'catalog name, hf:<owner>/<repo>, or hf:<owner>/<repo>/<path>')
    .addOption(new Option('--token <token>', 'Hugging Face token, for gated models such as FLUX.1-dev (default: $HF_TOKEN)'))
    .addOption(dataOption())
    .option('--no-progress', 'no progress bars')
    .action(pullCommand);
  program
    .command('models')
    .description('list installed models (the active one marked *) and the catalog, with what fits this machine')
    .addOption(dataOption())
    .option('--use <name|dir>', 'make this the active model (npm start loads it)')
    .action(modelsCommand);
}
