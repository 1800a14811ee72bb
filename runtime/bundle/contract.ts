/**
 * The DyPE-ready bundle contract: which inputs and outputs the transformer, the text encoders and
 * the VAE must have for the pipeline to feed them. The rules are the same for every family; what
 * differs (input names, text encoder folders and outputs) is the family's ContractSpec, published
 * beside its other constants (e.g. FLUX1_CONTRACT in flux1.ts). Checked by the pipeline on load and
 * by `dype import` before any work.
 */
import { PipelineError } from '../pipeline/errors.ts';

/** What the contract check needs of a model: a Session, or a graph read from protobuf (dype import). */
export interface GraphSignature {
  path: string;
  inputs: readonly { name: string; shape?: readonly (number | string)[] }[];
  outputNames: readonly string[];
}

export interface TextEncoderContract {
  /** Its folder in the bundle (holding model.onnx), as errors name it. */
  folder: string;
  /** Its tokenizer's folder in the bundle (holding tokenizer.json). */
  tokenizer: string;
  /** The only inputs it takes, in order (FLUX pads with real tokens, so input_ids alone). */
  inputs: readonly string[];
  /** Output names the pipeline reads, any one of them (optimum's and BFL's exporters differ). */
  outputs: readonly string[];
}

export interface ContractSpec {
  /** Transformer inputs every bundle of the family has (the RoPE feed is checked apart). */
  requiredInputs: readonly string[];
  /** Inputs the pipeline feeds when the graph has them. */
  optionalInputs: readonly string[];
  /** The text encoders, by the key the family's encoders use. */
  textEncoders: Readonly<Record<string, TextEncoderContract>>;
}

/** The RoPE feeds of a DyPE-ready transformer: compact ω/mscale, or full cos/sin tables. */
export const ROPE_FEEDS = ['rope_omega', 'rope_mscale', 'rope_cos', 'rope_sin'] as const;

/** The first of `accepted` that the model outputs. */
export const outputOf = (names: readonly string[], accepted: readonly string[]): string | undefined => accepted.find((n) => names.includes(n));

/**
 * Throws a PipelineError naming the model and what it lacks. `ropeFrequencies` (Σ axesDim / 2) is
 * checked against a static rope_omega length.
 */
export function checkContract(
  spec: ContractSpec,
  models: { transformer: GraphSignature; vae: GraphSignature; text: Readonly<Record<string, GraphSignature>> },
  ropeFrequencies?: number,
): void {
  const { transformer, vae } = models;
  const has = (g: GraphSignature, name: string) => g.inputs.some((i) => i.name === name);
  const missing = spec.requiredInputs.filter((n) => !has(transformer, n));
  const hasOmega = has(transformer, 'rope_omega') && has(transformer, 'rope_mscale');
  const hasTables = has(transformer, 'rope_cos') && has(transformer, 'rope_sin');
  if (!hasOmega && !hasTables) missing.push('rope_omega + rope_mscale (or rope_cos + rope_sin)');
  if (missing.length) {
    throw new PipelineError(
      'bundle_invalid',
      `${transformer.path} is not DyPE-ready: missing input(s) ${missing.join(', ')}. ` +
        `Standard FLUX exports compute RoPE inside the graph; convert them with \`dype import\`.`,
    );
  }
  const known = new Set<string>([...spec.requiredInputs, ...spec.optionalInputs, ...ROPE_FEEDS]);
  const unknown = transformer.inputs.filter((i) => !known.has(i.name)).map((i) => i.name);
  if (unknown.length) throw new PipelineError('bundle_invalid', `${transformer.path} has inputs the pipeline cannot feed: ${unknown.join(', ')}`);
  const omegaLength = transformer.inputs.find((i) => i.name === 'rope_omega')?.shape?.[0];
  if (ropeFrequencies !== undefined && typeof omegaLength === 'number' && omegaLength !== ropeFrequencies) {
    throw new PipelineError('bundle_invalid', `${transformer.path} takes ${omegaLength} rope_omega values but dype.json rope.axesDim gives ${ropeFrequencies} (Σ axesDim / 2)`);
  }
  for (const [key, encoder] of Object.entries(spec.textEncoders)) {
    const graph = models.text[key];
    if (!graph) throw new PipelineError('bundle_invalid', `${encoder.folder} is missing`);
    const inputs = graph.inputs.map((i) => i.name);
    if (inputs.length !== encoder.inputs.length || inputs.some((name, i) => name !== encoder.inputs[i])) {
      throw new PipelineError('bundle_invalid', `${encoder.folder} must take exactly ${encoder.inputs.join(', ')} (has ${inputs.join(', ')})`);
    }
    if (!outputOf(graph.outputNames, encoder.outputs)) throw new PipelineError('bundle_invalid', `${encoder.folder} must output ${encoder.outputs.join(' or ')}`);
  }
  if (vae.inputs.length !== 1) throw new PipelineError('bundle_invalid', `vae_decoder must take one input (latent_sample)`);
}
