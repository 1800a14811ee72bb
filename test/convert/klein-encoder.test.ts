// The converted Qwen3 text encoder against the torch reference (test/convert/reference-flux2/
// make_fixtures.py, transformers' modeling_qwen3.py at toy widths, bf16 weights as ComfyUI's
// qwen_3_4b.safetensors stores them): FLUX.2 [klein]'s hidden states 9, 18, 27 side by side, and
// single entries (the second-to-last and the normed last) as other families read them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQwen3Encoder, deriveQwen3Config, resolveHiddenStates } from '../../runtime/convert/qwen3.ts';
import { convertedSession } from './helpers/converted.ts';
import { KLEIN_FIXTURES, KLEIN_REFERENCE } from './helpers/klein-fixtures.ts';
import { maxAbsDiff } from '../helpers/compare.ts';

const TOLERANCE = 1e-4;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dype-qwen3-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const reference = KLEIN_REFERENCE.qwen3;
const ints = (values: readonly number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);

describe('Qwen3 text encoder conversion', () => {
  it.each([
    ['klein', reference.klein],
    ['second_to_last', reference.second_to_last],
    ['final_norm', reference.final_norm],
  ] as const)('hidden states %s equal the torch reference (bf16 weights, padded under the mask)', async (_name, expected) => {
    const { session, conversions } = await convertedSession(root, join(KLEIN_FIXTURES, reference.checkpoint), (g, w) => {
      const config = deriveQwen3Config(w);
      expect(config).toEqual({ vocabSize: reference.config.vocab, width: 16, layers: 28, heads: 2, kvHeads: 1, headDim: 8, mlpWidth: 32 });
      buildQwen3Encoder(g, w, config, { hiddenStates: expected.layers });
    });
    expect(Object.keys(conversions)).toEqual(['BF16']);
    const out = await session.run({ input_ids: ints(reference.input_ids), attention_mask: ints(reference.attention_mask) });
    expect(maxAbsDiff(out.hidden_states.data as Float32Array, expected.values)).toBeLessThan(TOLERANCE);
    expect(out.hidden_states.dims).toEqual([1, ...expected.shape]);
    await session.release();
  });

  it('leaves out the layers after the last hidden state asked for', async () => {
    const nodes = async (layers: number[]) => {
      const { path, session } = await convertedSession(root, join(KLEIN_FIXTURES, reference.checkpoint), (g, w) => buildQwen3Encoder(g, w, deriveQwen3Config(w), { hiddenStates: layers }));
      await session.release();
      const text = (await import('node:fs')).readFileSync(path).toString('latin1');
      return (text.match(/model\.layers\.\d+\.out/g) ?? []).map((m) => Number(/\d+/.exec(m)![0]));
    };
    expect(Math.max(...(await nodes([9, 18, 27])))).toBe(26);
    expect(Math.max(...(await nodes([-1])))).toBe(27);
  });

  it('resolves hidden-state indices as Python does, refusing ones past the model', () => {
    expect(resolveHiddenStates([9, 18, 27], 36)).toEqual([9, 18, 27]);
    expect(resolveHiddenStates([-2], 36)).toEqual([35]);
    expect(resolveHiddenStates([-1, 0], 36)).toEqual([36, 0]);
    expect(() => resolveHiddenStates([37], 36)).toThrow(/outside the 37 hidden states/);
    expect(() => resolveHiddenStates([-38], 36)).toThrow(/outside/);
    expect(() => resolveHiddenStates([], 36)).toThrow(/at least one/);
  });
});
