/**
 * Request overhead of the companion: sequential keep-alive requests to routes that do no generation,
 * against a bare node:http server answering the same JSON, measured side by side in this run.
 * The ratio is what the companion's request pipeline (Host, Origin, route, token, validation) costs.
 */
import { Agent, createServer, request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { GENERATION_METHODS, type Engine } from '../runtime/pipeline/types.ts';
import { createCompanion } from '../runtime/server/index.ts';
import { median, printResults, type BenchResult } from './timing.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const BATCH = 200;
const ROUNDS = 7;

/** An engine that is never asked to generate: only its info is read. */
const idleEngine: Engine = {
  info: { model: 'bench', demo: true, nativeResolution: 256, pixelsPerToken: 16, maxSide: 1024, maxPixels: 1 << 20, provider: 'cpu', defaultSteps: 4, defaultGuidance: null, defaultDypeScale: 2, defaultDypeExponent: 2, methods: GENERATION_METHODS },
  generate: () => Promise.reject(new Error('not used')),
};

function send(agent: Agent, port: number, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` };
    if (body !== undefined) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function benchServer(): Promise<BenchResult[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dype-bench-'));
  const companion = await createCompanion({ engine: idleEngine, dataDir, token: TOKEN, port: 0, version: '0.0.0-bench' });
  const companionPort = Number(new URL(await companion.listen()).port);
  const health = JSON.stringify({ ok: true });
  const bare = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(health) });
    res.end(health);
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const barePort = (bare.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const batch = (port: number, method: string, path: string, body?: string) => async () => {
    for (let i = 0; i < BATCH; i++) await send(agent, port, method, path, body);
  };
  try {
    const variants: Array<[string, () => Promise<void>]> = [
      ['bare node:http, GET (baseline)', batch(barePort, 'GET', '/v1/health')],
      ['companion GET /v1/health', batch(companionPort, 'GET', '/v1/health')],
      ['companion GET /v1/jobs/{id} (404, token checked)', batch(companionPort, 'GET', '/v1/jobs/nope')],
      ['companion POST /v1/jobs (400, body validated)', batch(companionPort, 'POST', '/v1/jobs', '{"prompt":"a","width":1}')],
    ];
    // interleaved rounds, so load on the machine hits every variant alike
    const times = variants.map(() => [] as number[]);
    for (let round = 0; round < ROUNDS + 1; round++) {
      for (const [i, [, run]] of variants.entries()) {
        const start = performance.now();
        await run();
        if (round > 0) times[i].push((performance.now() - start) / BATCH);
      }
    }
    const medians = times.map(median);
    return variants.map(([name], i) => (i === 0 ? { name, medianMs: medians[0] } : { name, medianMs: medians[i], ratio: medians[i] / medians[0], note: 'per request, vs bare' }));
  } finally {
    agent.destroy();
    await new Promise<void>((resolve) => bare.close(() => resolve()));
    await companion.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('server.ts')) {
  printResults(`Companion request overhead (${BATCH} sequential keep-alive requests)`, await benchServer());
}
