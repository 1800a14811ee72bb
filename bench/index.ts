import { benchPipeline } from './pipeline.ts';
import { benchProviders } from './providers.ts';
import { benchRopeTables } from './rope-tables.ts';
import { printResults } from './timing.ts';

printResults('DyPE RoPE tables (4096×4096, 66048 tokens × 128)', await benchRopeTables());
printResults('Pipeline on the demo model (CPU)', await benchPipeline());
const providers = await benchProviders();
printResults(providers.title, providers.results);
