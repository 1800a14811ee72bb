import { benchConvert } from './convert.ts';
import { benchGguf } from './gguf.ts';
import { benchImageToImage } from './img2img.ts';
import { benchNBitsForms } from './nbits-forms.ts';
import { benchPipeline } from './pipeline.ts';
import { benchProviders } from './providers.ts';
import { benchRopeTables } from './rope-tables.ts';
import { benchServer } from './server.ts';
import { printResults } from './timing.ts';

printResults('DyPE RoPE tables (4096×4096, 66048 tokens × 128)', await benchRopeTables());
printResults('Pipeline on the demo model (CPU)', await benchPipeline());
printResults('Image-to-image on the demo model (CPU)', await benchImageToImage());
printResults('dype convert on a full-size FLUX.1-dev checkpoint (bf16, BFL keys)', await benchConvert());
printResults('MatMulNBits forms of the GGUF types vs float32 MatMul (M 512, K = N = 3072, 1 thread)', await benchNBitsForms());
printResults('Quantized FLUX.1 transformer on the CPU (GGUF Q8_0 / Q4_0 vs float32)', await benchGguf());
printResults('Companion request overhead (per request, keep-alive)', await benchServer());
const providers = await benchProviders();
printResults(providers.title, providers.results);
