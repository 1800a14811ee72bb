/**
 * A stage's session as the memory plan wants it held: kept loaded between uses while the plan keeps
 * it, or loaded for a use and released after it when memory is short (ComfyUI's unloading between
 * stages). Each request's plan says which; the signature (inputs, outputs) stays readable after a
 * release.
 */
import type { Session } from './ort.ts';

export class StageSession {
  private current: Session | null;
  /** Time inside ORT `run` calls over every session this stage opened. */
  runMs = 0;

  constructor(
    /** The session opened at load: its inputs and outputs describe every later one. */
    readonly signature: Session,
    private readonly open: () => Promise<Session>,
    kept: boolean,
  ) {
    this.current = kept ? signature : null;
  }

  get loaded(): boolean {
    return this.current !== null;
  }

  /** Runs `fn` with the stage's session, loading it first if needed; `keep` false releases it afterwards. */
  use<T>(keep: boolean, fn: (session: Session) => Promise<T>): Promise<T> {
    return useStages({ stage: this }, keep, (sessions) => fn(sessions.stage));
  }

  /** The session, loaded if it was not. */
  async acquire(): Promise<Session> {
    this.current ??= await this.open();
    return this.current;
  }

  async release(): Promise<void> {
    await this.current?.release();
    this.current = null;
  }
}

/**
 * Runs `fn` with several stages' sessions at once (the text encoders), loading those not loaded;
 * `keep` false releases them all afterwards. Their run time is added to each stage's `runMs`.
 */
export async function useStages<T>(stages: Readonly<Record<string, StageSession>>, keep: boolean, fn: (sessions: Record<string, Session>) => Promise<T>): Promise<T> {
  const entries = Object.entries(stages);
  const sessions: Record<string, Session> = {};
  const before = new Map<string, number>();
  try {
    for (const [key, stage] of entries) {
      sessions[key] = await stage.acquire();
      before.set(key, sessions[key].runMs);
    }
    return await fn(sessions);
  } finally {
    for (const [key, stage] of entries) {
      if (sessions[key]) stage.runMs += sessions[key].runMs - (before.get(key) ?? 0);
      if (!keep) await stage.release();
    }
  }
}
