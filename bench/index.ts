import { benchCompanionLoad } from './companion-load.ts';
import { benchConvert } from './convert.ts';
import { benchImageToImage } from './img2img.ts';
import { benchMemoryPlan } from './memory-plan.ts';
import { benchPipeline } from './pipeline.ts';
import { benchProviders } from './providers.ts';
import { benchRopeTables } from './rope-tables.ts';
import { benchServer } from './server.ts';
import { printResults } from './timing.ts';

printResults('DyPE RoPE tables (4096×4096, 66048 tokens × 128)', await benchRopeTables());
printResults('Pipeline on the demo model (CPU)', await benchPipeline());
printResults('Image-to-image on the demo model (CPU)', await benchImageToImage());
printResults('dype convert on a full-size FLUX.1-dev checkpoint (bf16, BFL keys)', await benchConvert());
console.log(['', '## Memory plan for FLUX.1-dev from the published shapes (README table)', ...(await benchMemoryPlan())].join('\n'));
printResults('Companion request overhead (per request, keep-alive)', await benchServer());
printResults('Companion while a 4096² demo job runs, against idle (health latency, upload throughput)', await benchCompanionLoad());
const providers = await benchProviders();
printResults(providers.title, providers.results);
