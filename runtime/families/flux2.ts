/**
 * FLUX.2 [klein]: one Qwen3 encoder gives the text (hidden states 9, 18, 27 side by side, its chat
 * template with an empty think block, padded to 512 under an attention mask); ids (t, row, col, l)
 * over 4 RoPE axes with only row and col scaled (image tokens (0, r, c, 0), text tokens (0, 0, 0, l));
 * the timestep is σ (the graph multiplies by 1000); no guidance embedding; 32 VAE latent channels
 * packed 2×2 and normalised by the VAE's BatchNorm statistics (dype.json vae.latentNorm).
 */
import { FLUX2_CONTRACT } from '../bundle/flux2.ts';
import { outputOf } from '../bundle/contract.ts';
import { imageIds, textSequenceIds } from '../pipeline/latents.ts';
import type { TensorData } from '../pipeline/ort.ts';
import { qwen3ChatText } from '../pipeline/text.ts';
import { fromVaeLatents, toVaeLatents } from './latents.ts';
import type { ModelFamily } from './types.ts';

const QWEN = FLUX2_CONTRACT.textEncoders.qwen;
const AXES = 4;

export const FLUX2: ModelFamily = Object.freeze({
  id: 'flux2',
  label: 'FLUX.2 [klein]',
  contract: FLUX2_CONTRACT,

  textLengths: (config) => ({ qwen: config.text.qwenMaxLength }),

  async encodePrompt(prompt, encoders, log) {
    const { session, tokenizer, length } = encoders.qwen;
    const { ids, mask, length: used } = tokenizer.encodeMasked(qwen3ChatText(prompt), length);
    if (used === length && tokenizer.count(qwen3ChatText(prompt)) > length) log(`warning: the prompt is longer than the ${length} Qwen3 tokens this model reads, so it was truncated`);
    const out = await session.run({ input_ids: { type: 'int64', data: ids, dims: [1, length] }, attention_mask: { type: 'int64', data: mask, dims: [1, length] } });
    // Every row goes to the transformer, padding included, as BFL's Qwen3Embedder passes them.
    const hidden = out[outputOf(session.outputNames, QWEN.outputs)!];
    return { feeds: { encoder_hidden_states: hidden }, textTokens: hidden.dims[1] };
  },

  positionFeeds({ rows, cols, textTokens }): Record<string, TensorData> {
    return {
      img_ids: { type: 'float32', data: imageIds(rows, cols, AXES), dims: [rows * cols, AXES] },
      txt_ids: { type: 'float32', data: textSequenceIds(textTokens, AXES), dims: [textTokens, AXES] },
    };
  },

  timestep: (sigma) => sigma,
  // klein is guidance-distilled without an embedding; a FLUX.2 graph that takes one gets it.
  guidanceFeed: (guidance) => ({ guidance: { type: 'float32', data: Float32Array.of(guidance), dims: [1] } }),
  // (t, h, w, l): DyPE scales h and w; the time axis and the text axis stay native.
  axisRoles: () => ['native', 'rows', 'cols', 'native'],
  toVaeLatents,
  fromVaeLatents,
} satisfies ModelFamily);
