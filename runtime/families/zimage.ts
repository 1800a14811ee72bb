/**
 * Z-Image (Turbo): one Qwen3 encoder gives the caption, its second-to-last hidden state over the
 * prompt's own tokens (no padding rows); ids (caption index, row, column) over 3 RoPE axes with only
 * row and column scaled; the model takes t = 1 − σ and its converted graph returns the velocity;
 * FLUX.1's AE, so FLUX.1's latent scale and shift.
 */
import { outputOf } from '../bundle/contract.ts';
import { ZIMAGE_CONTRACT, ZIMAGE_DEFAULTS } from '../bundle/zimage.ts';
import type { TensorData } from '../pipeline/ort.ts';
import { qwen3ChatText } from '../pipeline/text.ts';
import { FLUX1 } from './flux1.ts';
import { fromVaeLatents, toVaeLatents } from './latents.ts';
import type { ModelFamily } from './types.ts';

/**
 * The position ids the transformer takes for the real (unpadded) tokens, as the model numbers them:
 * caption token i is (1 + i, 0, 0); image token (row, column) is (P + 1, row, column), where P is the
 * caption's length once padded to a multiple of 32. The graph adds the pad rows' own ids.
 */
export function zimageIds(textTokens: number, rows: number, cols: number): { txtIds: Float32Array; imgIds: Float32Array } {
  const multiple = ZIMAGE_DEFAULTS.padMultiple;
  const padded = Math.ceil(textTokens / multiple) * multiple;
  const txtIds = new Float32Array(textTokens * 3);
  for (let i = 0; i < textTokens; i++) txtIds[i * 3] = i + 1;
  const imgIds = new Float32Array(rows * cols * 3);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) imgIds.set([padded + 1, r, c], (r * cols + c) * 3);
  }
  return { txtIds, imgIds };
}

const QWEN = ZIMAGE_CONTRACT.textEncoders.qwen;

export const ZIMAGE: ModelFamily = Object.freeze({
  id: 'zimage',
  label: 'Z-Image',
  contract: ZIMAGE_CONTRACT,

  textLengths: (config) => ({ qwen: config.text.qwenMaxLength }),

  async encodePrompt(prompt, encoders, log) {
    const { session, tokenizer, length } = encoders.qwen;
    const text = qwen3ChatText(prompt, { thinking: ZIMAGE_DEFAULTS.thinking });
    const total = tokenizer.count(text);
    if (total > length) log(`warning: the prompt is ${total} Qwen3 tokens; this model reads ${length}, so it was truncated`);
    // The reference pads to 512 under a mask and keeps the masked-in rows; a causal decoder's first
    // rows do not see the padding, so running the real rows alone gives the same rows.
    const masked = tokenizer.encodeMasked(text, length);
    const n = masked.length;
    const out = await session.run({
      input_ids: { type: 'int64', data: masked.ids.subarray(0, n), dims: [1, n] },
      attention_mask: { type: 'int64', data: masked.mask.subarray(0, n), dims: [1, n] },
    });
    return { feeds: { encoder_hidden_states: out[outputOf(session.outputNames, QWEN.outputs)!] }, textTokens: n };
  },

  positionFeeds({ rows, cols, textTokens }): Record<string, TensorData> {
    const { txtIds, imgIds } = zimageIds(textTokens, rows, cols);
    return {
      img_ids: { type: 'float32', data: imgIds, dims: [rows * cols, 3] },
      txt_ids: { type: 'float32', data: txtIds, dims: [textTokens, 3] },
    };
  },

  timestep: (sigma) => 1 - sigma,
  guidanceFeed: () => null,
  // FLUX.1's layout: axis 0 (here the caption index, which puts the image after the caption) stays native.
  axisRoles: FLUX1.axisRoles,
  toVaeLatents,
  fromVaeLatents,
} satisfies ModelFamily);
