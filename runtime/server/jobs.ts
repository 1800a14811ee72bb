/**
 * Jobs as data: the serialisable record that fully describes one piece of work and its outcome, and
 * the store that keeps records in `jobs/<id>.json` and images in `images/<id>.<ext>` under the data folder.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { JOB_ERRORS, JOB_ID_PATTERN, JOB_SOURCES, JobErrorSchema, JobParamsSchema, JobResultViewSchema, JobStateSchema, type ImageFormat, type JobError, type JobParams, type JobState } from '../contract/index.ts';
import type { GenerateResult } from '../pipeline/types.ts';
import { TEMP_SUFFIX, writeFileAtomic } from '../files/atomic.ts';

export { isTerminal, JOB_STATES, TERMINAL_STATES, type JobParams, type JobState } from '../contract/index.ts';

/** The engine's result metadata (everything but the bytes), plus where the bytes are. */
export type JobResult = Omit<GenerateResult, 'image'> & {
  /** File name inside `images/`. */
  file: string;
  bytes: number;
};

export interface JobRecord {
  id: string;
  state: JobState;
  params: JobParams;
  /** The validated request as submitted (before defaults); a resubmission with the same id must match it. */
  request: Record<string, unknown>;
  /** Which endpoint created the job. */
  source: (typeof JOB_SOURCES)[number];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** 0–1; below 1 until the image exists. */
  progress: number;
  /** Last finished step (0 before the first). */
  step: number;
  error: JobError | null;
  result: JobResult | null;
}

/** Validates records read from disk: a damaged file is skipped, never trusted. */
const JobRecordSchema = z.object({
  id: z.string().regex(JOB_ID_PATTERN),
  state: JobStateSchema,
  params: JobParamsSchema,
  request: z.record(z.string(), z.unknown()),
  source: z.enum(JOB_SOURCES),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  progress: z.number(),
  step: z.number().int(),
  error: JobErrorSchema.nullable(),
  // the view's result (loose: result fields added to the pipeline later survive a restart), with the file instead of the url
  result: JobResultViewSchema.omit({ url: true })
    .extend({ file: z.string().regex(/^[a-z0-9_-]+\.(png|jpg)$/) })
    .nullable(),
});

export const IMAGE_EXTENSIONS: Record<ImageFormat, string> = { png: 'png', jpg: 'jpg' };

export class JobStore {
  readonly jobsDir: string;
  readonly imagesDir: string;
  /** Per-job write chains, so two saves of one record land in the order they were made. */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(readonly dataDir: string) {
    this.jobsDir = join(dataDir, 'jobs');
    this.imagesDir = join(dataDir, 'images');
  }

  /**
   * Creates the folders, removes temp files left by a crash and loads every record. Records still
   * queued or running were cut off by a crash or kill: they become `interrupted` (and are saved so).
   * Returns records and the names of files that could not be read.
   */
  async open(): Promise<{ records: JobRecord[]; skipped: string[] }> {
    await mkdir(this.jobsDir, { recursive: true, mode: 0o700 });
    await mkdir(this.imagesDir, { recursive: true, mode: 0o700 });
    for (const dir of [this.jobsDir, this.imagesDir]) {
      for (const name of await readdir(dir)) {
        if (name.endsWith(TEMP_SUFFIX)) await rm(join(dir, name), { force: true });
      }
    }
    const records: JobRecord[] = [];
    const skipped: string[] = [];
    for (const name of await readdir(this.jobsDir)) {
      if (!name.endsWith('.json')) continue;
      const record = await this.read(name);
      if (!record || `${record.id}.json` !== name) {
        skipped.push(name);
        continue;
      }
      if (record.state === 'queued' || record.state === 'running') {
        record.state = 'interrupted';
        record.error = { code: 'interrupted', message: JOB_ERRORS.interrupted };
        record.finishedAt = new Date().toISOString();
        await this.save(record);
        // killed after the image was renamed into place but before the done record was saved: the
        // image cannot be trusted to match a record that never said done, so it goes
        for (const ext of Object.values(IMAGE_EXTENSIONS)) await this.removeImage(`${record.id}.${ext}`);
      }
      records.push(record);
    }
    return { records, skipped };
  }

  private async read(name: string): Promise<JobRecord | null> {
    try {
      const parsed = JobRecordSchema.safeParse(JSON.parse(await readFile(join(this.jobsDir, name), 'utf8')));
      return parsed.success ? (parsed.data as unknown as JobRecord) : null;
    } catch {
      return null;
    }
  }

  /** Saves a snapshot of `record` atomically; saves of the same job are applied in call order. */
  save(record: JobRecord): Promise<void> {
    const snapshot = `${JSON.stringify(record, null, 2)}\n`;
    const path = join(this.jobsDir, `${record.id}.json`);
    const previous = this.writes.get(record.id) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => writeFileAtomic(path, snapshot, 0o600));
    this.writes.set(record.id, next);
    void next.then(
      () => this.writes.get(record.id) === next && this.writes.delete(record.id),
      () => this.writes.get(record.id) === next && this.writes.delete(record.id),
    );
    return next;
  }

  /** Writes the image atomically and returns its file name inside `images/`. */
  async writeImage(id: string, format: ImageFormat, bytes: Uint8Array): Promise<string> {
    const file = `${id}.${IMAGE_EXTENSIONS[format]}`;
    await writeFileAtomic(join(this.imagesDir, file), bytes, 0o600);
    return file;
  }

  /** Removes an image that no done record points to (no error if it is not there). */
  async removeImage(file: string): Promise<void> {
    await rm(join(this.imagesDir, file), { force: true });
  }

  imagePath(result: JobResult): string {
    return join(this.imagesDir, result.file);
  }

  /** Waits for every pending save. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.writes.values()]);
  }
}
