/**
 * The worker thread of a PipelineWorker (worker.ts): loads the pipeline and runs its generations,
 * so that ORT's runs (synchronous in onnxruntime-node), the VAE and the image encoding never block
 * the thread that serves HTTP. Step and decode events go back as messages; previews are rendered
 * here, at most one per interval, and sent when ready.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PipelineError } from './errors.ts';
import { Pipeline } from './pipeline.ts';
import { serializeError, type FromWorker, type ToWorker, type WorkerStart } from './worker-protocol.ts';

const port = parentPort!;
const start = workerData as WorkerStart;
const send = (message: FromWorker) => port.postMessage(message);

let pipeline: Pipeline;
try {
  const { bundleDir, previewIntervalMs: _interval, ...load } = start;
  pipeline = await Pipeline.load(bundleDir, { ...load, log: (line) => send({ type: 'log', line }) });
  send({ type: 'ready', info: pipeline.info });
} catch (error) {
  send({ type: 'load-failed', error: serializeError(error) });
  port.close();
  throw error;
}

const running = new Map<number, AbortController>();

port.on('message', (message: ToWorker) => {
  if (message.type === 'generate') void generate(message.id, message.request);
  else if (message.type === 'abort') running.get(message.id)?.abort(new PipelineError('cancelled', message.reason));
  else if (message.type === 'dispose') {
    for (const controller of running.values()) controller.abort(new PipelineError('cancelled', 'The engine is shutting down.'));
    void pipeline.dispose().finally(() => {
      send({ type: 'disposed' });
      port.close();
    });
  }
});

async function generate(id: number, request: Parameters<Pipeline['generate']>[0]): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  let lastPreviewAt = -Infinity;
  // previews still being drawn are sent before the job's end, so none arrives for a finished job
  const drawing: Promise<void>[] = [];
  try {
    const result = await pipeline.generate(request, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.kind === 'decode') {
          send({ type: 'decode', id, tile: event.tile, tiles: event.tiles });
          return;
        }
        const now = performance.now();
        const preview = event.preview !== undefined && now - lastPreviewAt >= start.previewIntervalMs;
        const { step, steps, sigma, elapsedMs, etaMs } = event;
        send({ type: 'step', id, step, steps, sigma, elapsedMs, etaMs, preview });
        if (!preview) return;
        lastPreviewAt = now;
        drawing.push(
          event.preview!().then(
            (image) => send({ type: 'preview', id, step, image }),
            (error: unknown) => send({ type: 'preview-failed', id, step, error: serializeError(error) }),
          ),
        );
      },
    });
    await Promise.all(drawing);
    send({ type: 'done', id, result });
  } catch (error) {
    await Promise.all(drawing);
    send({ type: 'failed', id, error: serializeError(error) });
  } finally {
    running.delete(id);
  }
}
