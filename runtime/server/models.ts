/**
 * What the model routes need: the pull jobs, the switchable engine (absent: switching is refused),
 * and the views of installed and catalog models. Catalog download sizes are asked of the Hub once
 * and kept; a Hub that cannot be reached gives null sizes, never an error.
 */
import type { CatalogEntryView, InstalledModelView, ModelsView } from '../contract/index.ts';
import { familyFacts, loadCatalog, type CatalogModel } from '../models/catalog.ts';
import type { HubConfig } from '../models/hub.ts';
import { listInstalled } from '../models/installed.ts';
import { catalogMemory, fitsMachine } from '../models/memory.ts';
import { machineMemory } from '../memory/machine.ts';
import type { MachineMemory } from '../memory/plan.ts';
import { planPull } from '../models/pull.ts';
import type { EngineInfo } from './engine.ts';
import { ModelPulls, type ModelPullOptions } from './model-pulls.ts';
import type { SwitchableEngine } from './switchable-engine.ts';

export interface ModelsOptions {
  /** Where pulled models are installed: <dataDir>/models (the companion's data folder by default). */
  dataDir?: string;
  /** Hugging Face cache (default HF_HUB_CACHE / HF_HOME). */
  cacheDir: string;
  hub: HubConfig;
  /** The companion's engine (the same object as its `engine`), for POST /v1/models/active; absent: switching is refused. */
  switcher?: SwitchableEngine;
  install?: ModelPullOptions['install'];
  /** RAM the "fits this computer" column is judged against (default: total memory). */
  memoryBytes?: number;
  /** GPU memory to judge by, in GB (the --gpu-memory setting); default: what nvidia-smi says. */
  gpuMemoryGB?: number;
  /** How long GET /v1/models waits for the Hub's sizes (default 4 s); later calls get them once known. */
  sizeTimeoutMs?: number;
}

/** How long a size the Hub could not give stays unknown before it is asked again. */
const SIZE_RETRY_MS = 10 * 60_000;

export class ModelServices {
  readonly pulls: ModelPulls;
  /** Why the last switch failed (the old model stayed loaded), until the next switch. */
  switchError: string | null = null;
  /** Download size per catalog model; a failed answer is kept for a while too, so an offline companion does not wait on every listing. */
  private sizes = new Map<string, { size: Promise<number | null>; until: number }>();
  /** This machine's memory per provider, asked once (nvidia-smi for CUDA). */
  private machines = new Map<string, Promise<MachineMemory>>();

  constructor(
    readonly opts: ModelsOptions & { dataDir: string },
    private readonly log: (message: string) => void,
  ) {
    this.pulls = new ModelPulls({ dataDir: opts.dataDir, cacheDir: opts.cacheDir, hub: opts.hub, install: opts.install, log });
  }

  get switcher(): SwitchableEngine | undefined {
    return this.opts.switcher;
  }

  /** Download size of a catalog model, from the Hub's listing (asked once; null if it failed). */
  private downloadBytes(model: CatalogModel): Promise<number | null> {
    const known = this.sizes.get(model.name);
    if (known && known.until > Date.now()) return known.size;
    const entry = { size: Promise.resolve<number | null>(null), until: Number.POSITIVE_INFINITY };
    entry.size = planPull(this.opts.hub, model.sources, this.opts.cacheDir).then(
      (plan) => plan.totalBytes,
      (error: unknown) => {
        this.log(`size of ${model.name} from the Hub: ${(error as Error).message}`);
        entry.until = Date.now() + SIZE_RETRY_MS;
        return null;
      },
    );
    this.sizes.set(model.name, entry);
    return entry.size;
  }

  private machine(provider: string): Promise<MachineMemory> {
    let known = this.machines.get(provider);
    if (!known) this.machines.set(provider, (known = machineMemory(provider, { ramBytes: this.opts.memoryBytes, gpuMemoryGB: this.opts.gpuMemoryGB })));
    return known;
  }

  async view(info: EngineInfo): Promise<ModelsView> {
    const machine = await this.machine(info.provider);
    const loadedDir = this.switcher?.dir ?? null;
    const installed = listInstalled(this.opts.dataDir);
    const installedViews: InstalledModelView[] = installed.map((m) => ({
      name: m.name,
      model: m.config.name,
      label: m.catalog?.label ?? (m.config.description || m.config.name),
      family: m.catalog?.family ?? null,
      quantization: m.catalog?.quantization ?? null,
      licence: m.catalog?.licence ?? null,
      repos: m.source?.repos.map((r) => r.repo) ?? [],
      active: m.dir === loadedDir,
    }));
    const timeout = new Promise<null>((resolve) => setTimeout(resolve, this.opts.sizeTimeoutMs ?? 4000, null).unref());
    const catalog: CatalogEntryView[] = await Promise.all(
      loadCatalog().models.map(async (m) => {
        const facts = familyFacts(m);
        return {
          name: m.name,
          label: m.label,
          family: m.family,
          variant: m.variant,
          quantization: m.quantization,
          gated: m.gated,
          licence: m.licence,
          nativeSize: facts.nativeSize,
          defaultSteps: facts.defaultSteps,
          memory: catalogMemory(m),
          fits: fitsMachine(m, machine, info.provider),
          downloadBytes: await Promise.race([this.downloadBytes(m), timeout]),
          installed: installed.some((i) => i.name === m.name),
        };
      }),
    );
    const loadedName = installed.find((m) => m.dir === loadedDir)?.name ?? null;
    const pending = this.switcher?.pending ?? null;
    return {
      loaded: { model: info.model, demo: info.demo, name: loadedName },
      switching: pending ? (installed.find((m) => m.dir === pending)?.name ?? pending) : null,
      switchError: this.switchError,
      installed: installedViews,
      catalog,
      memoryBytes: machine.ramBytes,
      gpuBytes: machine.gpuBytes,
      fitsOn: info.provider,
    };
  }
}
