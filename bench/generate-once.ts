/**
 * One generation in a fresh process, so peak RSS belongs to this run alone. Prints JSON.
 * Arguments: bundle width height steps [device] [keep-on-device: 1|0] [warm-up steps, 0 = none].
 * A warm-up generation at the same size first keeps one-off shader compilation out of the timings.
 */
import { loadPipeline } from '../runtime/pipeline/index.ts';
import type { Device } from '../runtime/pipeline/providers.ts';

const [dir, width, height, steps, device = 'cpu', keepOnDevice = '1', warmupSteps = '0'] = process.argv.slice(2);
const pipeline = await loadPipeline(dir, { device: device as Device, keepOnDevice: keepOnDevice === '1' });
const req = { prompt: 'a lighthouse at dawn', width: Number(width), height: Number(height), seed: 1 };
if (Number(warmupSteps) > 0) await pipeline.generate({ ...req, steps: Number(warmupSteps) });
const result = await pipeline.generate({ ...req, steps: Number(steps) });
console.log(JSON.stringify({ timings: result.timings, peakRssBytes: result.peakRssBytes, provider: pipeline.info.provider, latentsOnDevice: pipeline.info.latentsOnDevice, adapter: pipeline.info.providerSelection?.adapter ?? null }));
await pipeline.dispose();
