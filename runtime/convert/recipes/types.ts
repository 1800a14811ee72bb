/**
 * What `dype convert` needs to know of a model family: which components make its bundle, how their
 * sizes are derived and checked against each other, its dype.json, its tokenizers, and which graph
 * each bundle folder gets. runtime/convert/index.ts runs any recipe the same way (select, derive,
 * tokenizers, graphs beside the placed checkpoints, the shared bundle tail).
 */
import type { BundleConfig, FamilyId } from '../../bundle/config.ts';
import type { TokenizerKind } from '../../bundle/tokenizers.ts';
import type { GraphBuilder } from '../../onnx/builder.ts';
import type { Architecture, ComponentKind } from '../architectures.ts';
import type { Checkpoint } from '../inputs.ts';
import type { ComputeType } from '../source.ts';
import type { WeightSource } from '../weights.ts';

/** One component found in the inputs. */
export interface Found {
  kind: ComponentKind;
  architecture: Architecture;
  checkpoint: Checkpoint;
  prefix: string;
}

/** One graph of a bundle: which component it is built from, its bundle folder, and its builder. */
export interface GraphRecipe {
  kind: ComponentKind;
  folder: string;
  build: (b: GraphBuilder, w: WeightSource) => void;
  /** `float16`: the float16 twin of the folder's graph (model.fp16.onnx, same weights), for GPU providers. */
  compute?: ComputeType;
}

/** Options a recipe may read (the CLI's). */
export interface RecipeOptions {
  /** CLIP head width, for CLIP-like test models that are not OpenAI's (64). */
  clipHeadDim?: number;
}

export interface ConvertRecipe<Derived> {
  family: FamilyId;
  /** How messages name the family (FLUX.1, Z-Image). */
  label: string;
  /** The components its bundle needs, in the order they are reported. */
  components: readonly ComponentKind[];
  /** Components it takes from another family's architectures (Z-Image: FLUX.1's AE, the Qwen3 encoder listed under FLUX.2). */
  sharedComponents?: Readonly<Partial<Record<ComponentKind, FamilyId>>>;
  /** Sizes of every component from its tensor shapes (`probe` reads one component's headers), checked to fit together. */
  derive(found: Readonly<Record<ComponentKind, Found>>, probe: (f: Found) => WeightSource, options: RecipeOptions): Derived;
  /** The variant (e.g. dev or schnell) from the derived sizes and the file names given. */
  variant(derived: Derived, names: readonly string[]): string;
  /** One line on the model, for the log and the report. */
  describe(derived: Derived, variant: string): string;
  /** dype.json and the defaults it fell back on. */
  bundleConfig(derived: Derived, variant: string, meta: { name: string; source: string }): { config: BundleConfig; defaultsUsed: string[] };
  /** The family's published scheduler config for this variant. */
  scheduler(variant: string): Readonly<Record<string, unknown>>;
  /** The tokenizers the bundle needs, each with its prompt length from dype.json. */
  tokenizers(config: BundleConfig): Partial<Record<TokenizerKind, number>>;
  /** The graphs, each from one component, in the order they are written. */
  graphs(derived: Derived): GraphRecipe[];
}
