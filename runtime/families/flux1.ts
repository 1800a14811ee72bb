/**
 * FLUX.1 (dev, schnell, Krea-dev, Fill): CLIP-L gives the pooled vector, T5-XXL the token states;
 * ids (0, row, col) over 3 RoPE axes with only row and col scaled; the timestep is σ (the graph
 * multiplies by 1000); 16 latent channels under a scale and shift.
 */
import { FLUX1_CONTRACT } from '../bundle/flux1.ts';
import { outputOf } from '../bundle/contract.ts';
import { imageIds, textIds } from '../pipeline/latents.ts';
import type { Session, TensorData } from '../pipeline/ort.ts';
import { fromVaeLatents, toVaeLatents } from './latents.ts';
import type { ModelFamily } from './types.ts';

const { clip: CLIP, t5: T5 } = FLUX1_CONTRACT.textEncoders;

/** ids as the graph takes them: [n, 3] (diffusers) or [1, n, 3] (older exports). */
const idsDims = (transformer: Session, n: number) => (transformer.input('img_ids').shape.length === 3 ? [1, n, 3] : [n, 3]);

export const FLUX1: ModelFamily = Object.freeze({
  id: 'flux1',
  label: 'FLUX.1',
  contract: FLUX1_CONTRACT,

  textLengths(config, transformer) {
    // T5 tokens: the transformer's fixed text length when its graph has one (BFL's exports), else dype.json's.
    const fixed = transformer.input('encoder_hidden_states').shape[1];
    return { clip: config.text.clipMaxLength, t5: typeof fixed === 'number' && fixed > 0 ? fixed : config.text.t5MaxLength };
  },

  async encodePrompt(prompt, encoders, log) {
    const { clip, t5 } = encoders;
    const t5Tokens = t5.tokenizer.count(prompt);
    if (t5Tokens > t5.length) log(`warning: the prompt is ${t5Tokens} T5 tokens; this model reads ${t5.length}, so it was truncated`);
    const run = ({ session, tokenizer, length }: typeof clip) => session.run({ input_ids: { type: 'int64', data: tokenizer.encode(prompt, length), dims: [1, length] } });
    const [clipOut, t5Out] = await Promise.all([run(clip), run(t5)]);
    const hidden = t5Out[outputOf(t5.session.outputNames, T5.outputs)!];
    return { feeds: { encoder_hidden_states: hidden, pooled_projections: clipOut[outputOf(clip.session.outputNames, CLIP.outputs)!] }, textTokens: hidden.dims[1] };
  },

  positionFeeds({ rows, cols, textTokens }, transformer): Record<string, TensorData> {
    return {
      img_ids: { type: 'float32', data: imageIds(rows, cols), dims: idsDims(transformer, rows * cols) },
      txt_ids: { type: 'float32', data: textIds(textTokens), dims: idsDims(transformer, textTokens) },
    };
  },

  timestep: (sigma) => sigma,
  guidanceFeed: (guidance) => ({ guidance: { type: 'float32', data: Float32Array.of(guidance), dims: [1] } }),
  // FLUX's ids: axis 0 is always 0 (text/time), then row and column; any further axis stays native.
  axisRoles: (config) => config.rope.axesDim.map((_, a) => (a === 1 ? 'rows' : a === 2 ? 'cols' : 'native')),
  toVaeLatents,
  fromVaeLatents,
} satisfies ModelFamily);
