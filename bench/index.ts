import { benchPipeline } from './pipeline.ts';
import { benchRopeTables } from './rope-tables.ts';
import { benchServer } from './server.ts';
import { printResults } from './timing.ts';

printResults('DyPE RoPE tables (4096×4096, 66048 tokens × 128)', await benchRopeTables());
printResults('Pipeline on the demo model (CPU)', await benchPipeline());
printResults('Companion request overhead (per request, keep-alive)', await benchServer());
