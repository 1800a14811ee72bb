/** One whole `dype convert` (every component, tokenizers, dype.json) in a fresh process, so peak RSS belongs to it alone. Prints JSON. */
import { convertCheckpoints } from '../runtime/convert/index.ts';

const [models, bundle, tokenizers] = process.argv.slice(2);
const start = performance.now();
const report = await convertCheckpoints([models], { output: bundle, tokenizers, hubCache: null });
const ms = performance.now() - start;
console.log(JSON.stringify({ ms, extraBytes: report.extraBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024, graphs: report.components.reduce((n, c) => n + c.folders.length, 0) }));
