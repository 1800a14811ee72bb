import { readFileSync } from 'node:fs';
import { PipelineWorker } from '../pipeline/index.ts';
import type { Device } from '../pipeline/providers.ts';
import { createCompanion, formatPairingCode, loadOrCreateToken, resolveDataDir } from '../server/index.ts';
import { resolveModelDir } from './model.ts';
import { SwitchableEngine, type LoadedModel } from '../server/switchable-engine.ts';
import { hubConfigFromEnv } from '../models/hub.ts';
import { defaultHubCache } from '../models/hf-cache.ts';
import { formatPlan, type MemoryMode } from '../memory/plan.ts';

export interface ServeOptions {
  port: number;
  model?: string;
  device: Device;
  memory: MemoryMode;
  gpuMemory?: number;
  data?: string;
  token?: string;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function serveCommand(opts: ServeOptions): Promise<void> {
  const dataDir = resolveDataDir(opts.data);
  const token = await loadOrCreateToken(dataDir, opts.token);
  const modelDir = await resolveModelDir(opts.model, dataDir);
  const load = async (dir: string): Promise<LoadedModel> => {
    // in a worker thread, so generating never blocks the HTTP side
    const pipeline = await PipelineWorker.start(dir, { device: opts.device, memory: opts.memory, gpuMemoryGB: opts.gpuMemory, log: (l) => console.error(l) });
    return { engine: pipeline, dir, dispose: () => pipeline.dispose() };
  };
  // the loaded model can be switched from the plugin (POST /v1/models/active)
  const engine = new SwitchableEngine(await load(modelDir), load);
  const models = { hub: hubConfigFromEnv(), cacheDir: defaultHubCache(), switcher: engine, gpuMemoryGB: opts.gpuMemory };
  const companion = await createCompanion({ engine, dataDir, token, port: opts.port, version: packageVersion(), log: (l) => console.error(l), models });
  const url = await companion.listen();
  console.log(
    [
      `DyPE companion listening on ${url} (127.0.0.1 and ::1: this computer only)`,
      `model     ${engine.info.model}${engine.info.demo ? ' — embedded demo model, untrained: images are abstract' : ''} (${modelDir})`,
      `provider  ${engine.info.provider}`,
      ...(engine.info.memoryPlan ? formatPlan(engine.info.memoryPlan) : []),
      `data      ${dataDir}`,
      `pairing   ${formatPairingCode(companion.pairingCode)}   ← type this code into the Figma plugin once`,
      `API       ${url}/openapi.json`,
    ].join('\n'),
  );
  const stop = () => {
    console.error('stopping: running and queued jobs are marked interrupted');
    void companion.close().then(() => engine.dispose()).finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
