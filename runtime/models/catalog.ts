/**
 * The model catalog (catalog.json, checked with zod when read): named models that `dype pull <name>`
 * fetches and converts in one step. Native size and default steps are not written in the JSON: they
 * come from the family's published defaults, the same ones `dype convert` writes into dype.json.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { FAMILY_IDS, type FamilyId } from '../bundle/config.ts';
import { FLUX_DEFAULTS, type FluxVariant } from '../bundle/flux1.ts';
import { FLUX2_DEFAULTS } from '../bundle/flux2.ts';
import { ZIMAGE_DEFAULTS } from '../bundle/zimage.ts';

const RepoId = z.string().regex(/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/, 'is not owner/repo');
const RepoPath = z.string().min(1).refine((p) => !p.split('/').some((s) => s === '..' || s === '.') && !p.startsWith('/'), 'must be a path inside the repository');

export const SourceSchema = z.object({ repo: RepoId, paths: z.array(RepoPath).min(1) }).strict();

export const LicenceSchema = z
  .object({
    name: z.string().min(1),
    url: z.url(),
    /** What the licence says about using outputs commercially, quoted, with the section it is from. */
    commercialUse: z.string().min(1).optional(),
  })
  .strict();

export const CatalogModelSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'is lower-case letters, digits, dots and dashes'),
    label: z.string().min(1),
    family: z.enum(FAMILY_IDS),
    variant: z.string().min(1),
    /** How the transformer's weights are stored: bf16, Q8_0, Q4_0, … */
    quantization: z.string().min(1),
    /** The licence must be accepted on the model page before the Hub serves the files. */
    gated: z.boolean().default(false),
    sources: z.array(SourceSchema).min(1),
    licence: LicenceSchema,
  })
  .strict();

export const CatalogSchema = z
  .object({
    $comment: z.string().optional(),
    models: z.array(CatalogModelSchema),
    textEncoders: z.array(z.object({ name: z.string(), label: z.string(), sources: z.array(SourceSchema).min(1), licence: LicenceSchema }).strict()),
  })
  .strict()
  .superRefine((catalog, ctx) => {
    const names = [...catalog.models, ...catalog.textEncoders].map((m) => m.name);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) ctx.addIssue({ code: 'custom', message: `name ${name} is used twice`, path: ['models', i, 'name'] });
    });
    catalog.models.forEach((m, i) => {
      const facts = FAMILY_FACTS[m.family];
      if (!facts) ctx.addIssue({ code: 'custom', message: `family ${m.family} has no catalog facts yet (add them to FAMILY_FACTS)`, path: ['models', i, 'family'] });
      else if (!facts.variants.includes(m.variant)) ctx.addIssue({ code: 'custom', message: `${m.family} variant must be one of ${facts.variants.join(', ')}`, path: ['models', i, 'variant'] });
    });
  });

export type CatalogModel = z.output<typeof CatalogModelSchema>;
export type Catalog = z.output<typeof CatalogSchema>;

export interface FamilyFacts {
  nativeSize: number;
  defaultSteps: number;
}

/** Per family: its variants and their facts. The memory a model needs comes from the memory planner (runtime/models/memory.ts). */
const FAMILY_FACTS: Readonly<Partial<Record<FamilyId, { variants: readonly string[]; facts: (variant: string) => FamilyFacts }>>> = Object.freeze({
  flux1: {
    variants: Object.keys(FLUX_DEFAULTS.steps),
    facts: (variant: string) => ({
      nativeSize: FLUX_DEFAULTS.nativeResolution,
      defaultSteps: FLUX_DEFAULTS.steps[variant as FluxVariant],
    }),
  },
  flux2: {
    variants: ['klein-4b'],
    facts: () => ({ nativeSize: FLUX2_DEFAULTS.nativeResolution, defaultSteps: FLUX2_DEFAULTS.steps }),
  },
  zimage: {
    variants: ['turbo'],
    facts: () => ({ nativeSize: ZIMAGE_DEFAULTS.nativeResolution, defaultSteps: ZIMAGE_DEFAULTS.steps }),
  },
});

/** Native size and default steps of a catalog model (its family and variant are checked when the catalog is read). */
export function familyFacts(model: Pick<CatalogModel, 'family' | 'variant'>): FamilyFacts {
  const family = FAMILY_FACTS[model.family];
  if (!family) throw new Error(`no catalog facts for the ${model.family} family`);
  return family.facts(model.variant);
}

const CATALOG_FILE = new URL('./catalog.json', import.meta.url);

export function parseCatalog(json: unknown, where = 'catalog.json'): Catalog {
  const parsed = CatalogSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${where} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

let loaded: Catalog | null = null;

export function loadCatalog(): Catalog {
  loaded ??= parseCatalog(JSON.parse(readFileSync(CATALOG_FILE, 'utf8')));
  return loaded;
}

export function findCatalogModel(name: string, catalog: Catalog = loadCatalog()): CatalogModel | undefined {
  return catalog.models.find((m) => m.name === name);
}
