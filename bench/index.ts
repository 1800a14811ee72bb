import { benchConvert } from './convert.ts';
import { benchImageToImage } from './img2img.ts';
import { benchKleinStep } from './klein-step.ts';
import { benchZImageStep } from './zimage-step.ts';
import { benchPipeline } from './pipeline.ts';
import { benchProviders } from './providers.ts';
import { benchRopeTables } from './rope-tables.ts';
import { benchServer } from './server.ts';
import { printResults } from './timing.ts';

printResults('DyPE RoPE tables (4096×4096, 66048 tokens × 128)', await benchRopeTables());
printResults('Pipeline on the demo model (CPU)', await benchPipeline());
printResults('Image-to-image on the demo model (CPU)', await benchImageToImage());
printResults('dype convert on a full-size FLUX.1-dev checkpoint (bf16, BFL keys)', await benchConvert());
printResults('FLUX.2 [klein] against FLUX.1, tiny transformers at equal tokens (CPU)', await benchKleinStep());
printResults('Z-Image against FLUX.1, tiny transformers at equal tokens (CPU)', await benchZImageStep());
printResults('Companion request overhead (per request, keep-alive)', await benchServer());
const providers = await benchProviders();
printResults(providers.title, providers.results);
