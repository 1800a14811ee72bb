/** One generation in a fresh process, so peak RSS belongs to this run alone. Prints JSON. */
import { loadPipeline } from '../runtime/pipeline/index.ts';

const [dir, width, height, steps] = process.argv.slice(2);
const pipeline = await loadPipeline(dir, { device: 'cpu' });
const result = await pipeline.generate({ prompt: 'a lighthouse at dawn', width: Number(width), height: Number(height), seed: 1, steps: Number(steps) });
console.log(JSON.stringify({ timings: result.timings, peakRssBytes: result.peakRssBytes }));
await pipeline.dispose();
