import { benchConvert } from './convert.ts';
import { benchConvertKlein } from './convert-klein.ts';
import { benchImageToImage } from './img2img.ts';
import { benchKleinStep } from './klein-step.ts';
import { benchPipeline } from './pipeline.ts';
import { benchProviders } from './providers.ts';
import { benchRopeTables } from './rope-tables.ts';
import { benchServer } from './server.ts';
import { printResults } from './timing.ts';

printResults('DyPE RoPE tables (4096×4096, 66048 tokens × 128)', await benchRopeTables());
printResults('Pipeline on the demo model (CPU)', await benchPipeline());
printResults('Image-to-image on the demo model (CPU)', await benchImageToImage());
printResults('dype convert on a full-size FLUX.1-dev checkpoint (bf16, BFL keys)', await benchConvert());
printResults('dype convert on full-size FLUX.2 [klein] 4B files (ComfyUI layout, sparse)', await benchConvertKlein());
printResults('FLUX.2 [klein] against FLUX.1, tiny transformers at equal tokens (CPU)', await benchKleinStep());
printResults('Companion request overhead (per request, keep-alive)', await benchServer());
const providers = await benchProviders();
printResults(providers.title, providers.results);
