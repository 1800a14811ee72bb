/** The pipeline in its worker thread (what `dype serve` runs), against the pipeline in this thread. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAbortError, loadPipeline, PipelineError, PipelineWorker, type GenerateEvent, type Pipeline } from '../../runtime/pipeline/index.ts';
import { tempDemoBundle } from '../helpers/demo.ts';

describe('PipelineWorker', () => {
  let bundle: { dir: string; cleanup: () => void };
  let worker: PipelineWorker;
  let local: Pipeline;
  beforeAll(async () => {
    bundle = await tempDemoBundle();
    [worker, local] = await Promise.all([PipelineWorker.start(bundle.dir, { device: 'cpu', previewIntervalMs: 0 }), loadPipeline(bundle.dir, { device: 'cpu' })]);
  });
  afterAll(async () => {
    await worker?.dispose();
    await local?.dispose();
    bundle?.cleanup();
  });

  it('has the same info and makes the same bytes, with every step, preview and decode event', async () => {
    expect(worker.info).toEqual(local.info);
    const req = { prompt: 'same bytes', width: 192, height: 128, seed: 4, steps: 3 };
    const events: GenerateEvent[] = [];
    const previews: Promise<unknown>[] = [];
    const [fromWorker, here] = await Promise.all([
      worker.generate(req, {
        onEvent: (e) => {
          events.push(e);
          if (e.kind === 'step' && e.preview) previews.push(e.preview());
        },
      }),
      local.generate(req),
    ]);
    expect(Buffer.from(fromWorker.image).equals(Buffer.from(here.image))).toBe(true);
    expect({ ...fromWorker, image: null, timings: null, peakRssBytes: null }).toEqual({ ...here, image: null, timings: null, peakRssBytes: null });
    expect(events.filter((e) => e.kind === 'step').map((e) => e.step)).toEqual([1, 2, 3]);
    expect(events.at(-1)).toMatchObject({ kind: 'decode' });
    // every step but the last offers a preview (interval 0), and each is a PNG
    expect(previews).toHaveLength(2);
    for (const preview of (await Promise.all(previews)) as { png: Uint8Array }[]) expect(Buffer.from(preview.png.subarray(1, 4)).toString()).toBe('PNG');
  });

  it('keeps computing while the calling thread is blocked', async () => {
    const req = { prompt: 'busy caller', width: 1536, height: 1536, seed: 1 };
    await worker.generate({ ...req, steps: 1 }); // the first run at a size allocates: not the step time to look at
    const elapsed: number[] = [];
    await worker.generate({ ...req, steps: 4 }, {
      onEvent: (e) => {
        if (e.kind !== 'step') return;
        elapsed.push(e.elapsedMs);
        // after step 1 the caller's thread does nothing else for 2 s
        if (e.step === 1) for (const until = performance.now() + 2000; performance.now() < until; );
      },
    });
    // elapsedMs is the pipeline's own clock. On the calling thread step 2 could only start once this
    // callback returned, 2 s later; in the worker it was computed meanwhile (~60 ms at 1536²)
    expect(elapsed[1] - elapsed[0]).toBeLessThan(1500);
  });

  it('cancels a running generation with the pipeline\'s abort error, and reports its errors as the pipeline does', async () => {
    const controller = new AbortController();
    const cancelled = worker.generate({ prompt: 'cancel', width: 256, height: 256, seed: 1, steps: 50 }, {
      signal: controller.signal,
      onEvent: (e) => e.kind === 'step' && e.step === 2 && controller.abort(),
    });
    const error = await cancelled.catch((e: unknown) => e);
    expect(isAbortError(error)).toBe(true);
    const refused = await worker.generate({ prompt: 'too wide', width: 1_000_000, height: 64, seed: 1 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PipelineError);
    expect(refused).toMatchObject({ code: 'size_out_of_range' });
    // still serving after both
    expect((await worker.generate({ prompt: 'after', width: 64, height: 64, seed: 1, steps: 1 })).width).toBe(64);
  });

  it('refuses work once disposed, and fails to start on a folder without a bundle', async () => {
    const second = await PipelineWorker.start(bundle.dir, { device: 'cpu' });
    await second.dispose();
    await expect(second.generate({ prompt: 'late', width: 64, height: 64, seed: 1 })).rejects.toThrow(/disposed/);
    await expect(PipelineWorker.start(`${bundle.dir}-missing`, { device: 'cpu' })).rejects.toMatchObject({ name: 'PipelineError' });
  });
});
