/**
 * The engine the queue runs, with the model behind it swappable: `switchTo` waits until the job
 * running now has ended, then disposes the old model and loads the new one. A job that starts
 * meanwhile waits for the new model; no queued job is dropped or failed by a switch. `info` is one
 * object, updated in place, so everything holding it (limits, schemas, health) sees the new model.
 */
import type { Engine, EngineInfo } from './engine.ts';
import type { GenerateOptions, GenerateRequest, GenerateResult } from '../pipeline/types.ts';

export interface LoadedModel {
  engine: Engine;
  /** The bundle folder, or null for an engine that has none (tests). */
  dir: string | null;
  /** Frees the model (sessions, GPU memory). */
  dispose: () => Promise<void>;
}

export type ModelLoader = (dir: string) => Promise<LoadedModel>;

export class SwitchableEngine implements Engine {
  readonly info: EngineInfo;
  private current: LoadedModel;
  private running: Promise<unknown> | null = null;
  private switching: Promise<void> | null = null;
  private target: string | null = null;

  private readonly switched = new Set<(info: EngineInfo) => void>();

  constructor(
    initial: LoadedModel,
    private readonly load: ModelLoader,
  ) {
    this.current = initial;
    this.info = { ...initial.engine.info };
  }

  /** Called after each switch (the companion recomputes its limits from the new info). */
  onSwitch(listener: (info: EngineInfo) => void): void {
    this.switched.add(listener);
  }

  get dir(): string | null {
    return this.current.dir;
  }

  /** The folder being switched to, while a switch waits or loads. */
  get pending(): string | null {
    return this.target;
  }

  async ready(): Promise<void> {
    // a switch that fails leaves the old model loaded: the job runs on it, it does not fail
    while (this.switching) await this.switching.catch(() => {});
  }

  async generate(req: GenerateRequest, opts?: GenerateOptions): Promise<GenerateResult> {
    await this.ready();
    const run = this.current.engine.generate(req, opts);
    this.running = run.catch(() => {});
    try {
      return await run;
    } finally {
      this.running = null;
    }
  }

  /**
   * Loads `dir` once the running job has ended. A second switch while one is pending replaces its
   * target. If the new model fails to load, the old one stays loaded and the error is thrown.
   */
  switchTo(dir: string): Promise<void> {
    this.target = dir;
    if (this.switching) return this.switching;
    this.switching = (async () => {
      try {
        while (this.running) await this.running;
        let loadedTarget: string | null = null;
        while (this.target !== null && this.target !== loadedTarget) {
          loadedTarget = this.target;
          const next = await this.load(loadedTarget);
          const old = this.current;
          this.current = next;
          for (const key of Object.keys(this.info)) delete (this.info as unknown as Record<string, unknown>)[key];
          Object.assign(this.info, next.engine.info);
          await old.dispose();
          for (const listener of this.switched) listener(this.info);
        }
      } finally {
        this.target = null;
        this.switching = null;
      }
    })();
    return this.switching;
  }

  async dispose(): Promise<void> {
    while (this.switching) await this.switching.catch(() => {});
    await this.current.dispose();
  }
}
