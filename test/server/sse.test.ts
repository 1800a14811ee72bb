/** The event stream against clients that misbehave at the socket level. */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenerateOptions, GenerateRequest, GenerateResult } from '../../runtime/pipeline/types.ts';
import { FakeEngine, sleep, solidImage } from './helpers/fake-engine.ts';
import { startCompanion, TOKEN, waitFor, type Harness } from './helpers/companion.ts';

/** Sends a 1 MiB "preview" on every step it is asked for, to fill the socket of a client that does not read. */
class FloodEngine extends FakeEngine {
  private readonly opened: Promise<void>;
  open!: () => void;

  constructor() {
    super();
    this.opened = new Promise((resolve) => (this.open = resolve));
  }

  override async generate(req: GenerateRequest, opts: GenerateOptions = {}): Promise<GenerateResult> {
    await this.opened;
    const steps = req.steps ?? 4;
    const png = new Uint8Array(randomBytes(1 << 20));
    for (let step = 1; step <= steps; step++) {
      await sleep(2);
      opts.signal?.throwIfAborted();
      const preview = step < steps ? async () => ({ png, width: 1, height: 1 }) : undefined;
      opts.onEvent?.({ kind: 'step', step, steps, sigma: 0, elapsedMs: 0, etaMs: 0, feeds: {}, preview });
    }
    const image = await solidImage(req.width, req.height, req.seed, 'png');
    const timings = { totalMs: 0, encodeTextMs: 0, denoiseMs: 0, perStepMs: 0, decodeMs: 0, encodeMs: 0, ortMs: 0, denoiseOrtMs: 0 };
    return { image, format: 'png', mimeType: 'image/png', width: req.width, height: req.height, seed: req.seed, steps, method: 'dy-yarn', dypeScale: 2, dypeExponent: 2, dypeExponentAuto: false, model: this.info.model, timings, peakRssBytes: 0 };
  }
}

describe('event stream', () => {
  let h: Harness | undefined;
  let socket: Socket | undefined;
  afterEach(async () => {
    socket?.destroy();
    await h?.close();
    h = socket = undefined;
  });

  it('survives a client that stops reading: no heartbeat is written after the stream ended', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const engine = new FloodEngine();
      h = await createHarness(engine);
      const job = await h.api.post('/v1/jobs', { prompt: 'flood', width: 64, height: 64, steps: 40 });
      expect(job.status).toBe(202);

      // a raw client that sends the request and never reads a byte of the answer
      socket = connect(h.port, '127.0.0.1');
      socket.pause();
      socket.on('error', () => {});
      socket.write(`GET /v1/jobs/${job.body.id}/events HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
      await waitFor(() => h!.companion.stats().streams === 1);
      engine.open();

      // the terminal event ends the response while its bytes are still stuck in the socket
      await waitFor(async () => (await h!.api.get(`/v1/jobs/${job.body.id}`)).body.state === 'done', 10_000);
      await sleep(200); // 20 heartbeat intervals
      expect(uncaught).toEqual([]);
      expect((await h.api.get('/v1/health')).status).toBe(200);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('stops heartbeats of a stalled stream on close', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const engine = new FloodEngine();
      h = await createHarness(engine);
      const job = await h.api.post('/v1/jobs', { prompt: 'flood then close', width: 64, height: 64, steps: 100 });
      expect(job.status).toBe(202);
      socket = connect(h.port, '127.0.0.1');
      socket.pause();
      socket.on('error', () => {});
      socket.write(`GET /v1/jobs/${job.body.id}/events HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
      await waitFor(() => h!.companion.stats().streams === 1);
      engine.open();
      await sleep(150);
      const closing = h.companion.close();
      await sleep(200);
      expect(uncaught).toEqual([]);
      socket.destroy();
      await closing;
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});

function createHarness(engine: FloodEngine): Promise<Harness> {
  // previewIntervalMs 0: every step carries a preview; heartbeats every 10 ms
  return startCompanion({ engine, heartbeatMs: 10, previewIntervalMs: 0, stopTimeoutMs: 200 });
}
