import { describe, expect, it } from 'vitest';
import { checkContract as checkSpec, type GraphSignature } from '../../runtime/bundle/contract.ts';
import { FLUX1_CONTRACT } from '../../runtime/bundle/flux1.ts';

const REQUIRED_TRANSFORMER_INPUTS = FLUX1_CONTRACT.requiredInputs;
type Models = Record<'transformer' | 'clip' | 't5' | 'vae', GraphSignature>;
const checkContract = ({ transformer, vae, clip, t5 }: Models, ropeFrequencies?: number) => checkSpec(FLUX1_CONTRACT, { transformer, vae, text: { clip, t5 } }, ropeFrequencies);

const graph = (path: string, inputs: string[], outputNames: string[] = ['out'], shapes: Record<string, number[]> = {}): GraphSignature => ({
  path,
  inputs: inputs.map((name) => ({ name, shape: shapes[name] ?? [] })),
  outputNames,
});
const models = (over: Partial<Models> = {}): Models => ({
  transformer: graph('transformer', [...REQUIRED_TRANSFORMER_INPUTS, 'rope_omega', 'rope_mscale'], ['out'], { rope_omega: [16], rope_mscale: [16] }),
  clip: graph('clip', ['input_ids'], ['last_hidden_state', 'pooler_output']),
  t5: graph('t5', ['input_ids'], ['last_hidden_state']),
  vae: graph('vae', ['latent_sample'], ['sample']),
  ...over,
});

describe('DyPE-ready bundle contract', () => {
  it('accepts the compact and the table forms', () => {
    expect(() => checkContract(models(), 16)).not.toThrow();
    expect(() => checkContract(models({ transformer: graph('t', [...REQUIRED_TRANSFORMER_INPUTS, 'rope_cos', 'rope_sin', 'guidance']) }))).not.toThrow();
  });
  it.each([
    [{ transformer: graph('t', [...REQUIRED_TRANSFORMER_INPUTS]) }, /not DyPE-ready: missing input\(s\) rope_omega \+ rope_mscale/],
    [{ transformer: graph('t', [...REQUIRED_TRANSFORMER_INPUTS, 'rope_omega', 'rope_mscale', 'controlnet_cond']) }, /cannot feed: controlnet_cond/],
    [{ clip: graph('clip', ['input_ids', 'attention_mask'], ['pooler_output']) }, /text_encoder must take exactly input_ids \(has input_ids, attention_mask\)/],
    [{ clip: graph('clip', ['input_ids'], ['last_hidden_state']) }, /must output pooler_output/],
    [{ t5: graph('t5', ['input_ids'], ['hidden']) }, /text_encoder_2 must output last_hidden_state/],
    [{ vae: graph('vae', ['latent_sample', 'scale']) }, /vae_decoder must take one input/],
  ])('refuses %#', (over, message) => {
    expect(() => checkContract(models(over), 16)).toThrow(message);
  });
  it('checks a static rope_omega length against Σ axesDim / 2', () => {
    expect(() => checkContract(models(), 64)).toThrow(/takes 16 rope_omega values but dype.json rope.axesDim gives 64/);
  });
});
