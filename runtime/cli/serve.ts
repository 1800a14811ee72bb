import { readFileSync } from 'node:fs';
import { PipelineWorker } from '../pipeline/index.ts';
import type { Device } from '../pipeline/providers.ts';
import { createCompanion, formatPairingCode, loadOrCreateToken, resolveDataDir } from '../server/index.ts';
import { resolveModelDir } from './model.ts';

export interface ServeOptions {
  port: number;
  model?: string;
  device: Device;
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
  const modelDir = await resolveModelDir(opts.model);
  // in a worker thread, so generating never blocks the HTTP side
  const pipeline = await PipelineWorker.start(modelDir, { device: opts.device, log: (l) => console.error(l) });
  const companion = await createCompanion({ engine: pipeline, dataDir, token, port: opts.port, version: packageVersion(), log: (l) => console.error(l) });
  const url = await companion.listen();
  console.log(
    [
      `DyPE companion listening on ${url} (this computer only)`,
      `model     ${pipeline.info.model}${pipeline.info.demo ? ' — embedded demo model, untrained: images are abstract' : ''} (${modelDir})`,
      `provider  ${pipeline.info.provider}`,
      `data      ${dataDir}`,
      `pairing   ${formatPairingCode(companion.pairingCode)}   ← type this code into the Figma plugin once`,
      `API       ${url}/openapi.json`,
    ].join('\n'),
  );
  const stop = () => {
    console.error('stopping: running and queued jobs are marked interrupted');
    void companion.close().then(() => pipeline.dispose()).finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
