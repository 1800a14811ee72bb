/** Generate into frames: pixel sizes, the UI round trip, one IMAGE fill, stored parameters, undo. */
import { describe, expect, it } from 'vitest';
import { JOB_ID_PATTERN, type Generation, type JobRequest } from '../../runtime/contract/index.ts';
import { finishJob, generate, imageFills, png, startPlugin } from './helpers.ts';

describe('generate', () => {
  it('asks for frame size × density pixels and applies one IMAGE fill (FILL) to the frame', async () => {
    let hero!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (hero = f.addFrame({ name: 'Hero', width: 1440, height: 900 })) });
    await fake.select([hero]);

    const [job] = await generate(fake, { density: { kind: 'scale', scale: 2 } });
    expect(job.nodeId).toBe(hero.id);
    expect(job.body).toMatchObject({ width: 2880, height: 1800, seed: 1234, prompt: 'a lighthouse at dawn', method: 'dy-yarn', steps: 8, format: 'png' });
    expect(job.body).not.toHaveProperty('guidance');
    // λ left at the model's default (null) is not sent
    expect(job.body).not.toHaveProperty('dypeScale');
    expect(job.body).not.toHaveProperty('dypeExponent');
    expect(job.body.id).toBe(job.jobId);
    expect(job.jobId).toMatch(JOB_ID_PATTERN);

    await finishJob(fake, job);
    const fills = imageFills(hero);
    expect(fills).toHaveLength(1);
    expect(fills[0].scaleMode).toBe('FILL');
    expect(fake.images.get(fills[0].imageHash!)).toMatchObject({ width: 2880, height: 1800 });
    // the white background the frame had stays under the image
    expect((hero.fills as readonly Paint[])[0].type).toBe('SOLID');
    expect(fake.lastMessage('job-applied')).toMatchObject({ jobId: job.jobId, placement: 'frame', frameName: 'Hero' });
    expect(fake.notices.at(-1)).toEqual({ message: '“Hero” now shows its 2880×1800 px image.', error: false });
  });

  it.each([
    [{ kind: 'scale', scale: 1 }, 300, 200, 300, 200],
    [{ kind: 'scale', scale: 3 }, 300, 200, 900, 600],
    [{ kind: 'scale', scale: 4 }, 333, 111, 1332, 444],
    [{ kind: 'longest', px: 4096 }, 1600, 900, 4096, 2304],
    [{ kind: 'longest', px: 5000 }, 900, 1600, 2813, 5000],
  ] as const)('density %j on %i×%i pt asks for exactly %i×%i px', async (density, w, h, pw, ph) => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: w, height: h })) });
    await fake.select([frame]);
    const [job] = await generate(fake, { density });
    expect([job.body.width, job.body.height]).toEqual([pw, ph]);
  });

  it('shows the pixel size and megapixels of each selected frame before generating', async () => {
    let a!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (a = f.addFrame({ name: 'A', width: 640, height: 480 })) });
    await fake.select([a]);
    expect(fake.lastMessage('selection').selection.frames[0]).toMatchObject({ name: 'A', width: 640, height: 480, target: { width: 1280, height: 960, clamped: false } });
    await fake.send({ type: 'save-settings', patch: { density: { kind: 'scale', scale: 4 } } });
    expect(fake.lastMessage('selection').selection.frames[0].target).toEqual({ width: 2560, height: 1920, clamped: false });
    // the companion's limits cap it, keeping the aspect
    await fake.send({ type: 'limits', limits: { minSide: 64, maxSide: 2048, maxPixels: 2048 * 2048 } });
    expect(fake.lastMessage('selection').selection.frames[0].target).toEqual({ width: 2048, height: 1536, clamped: true });
  });

  it('generates into several frames, one job each, and fills each with its own size', async () => {
    const frames: FrameNode[] = [];
    const { fake } = await startPlugin({
      setup: (f) => {
        frames.push(f.addFrame({ name: 'Wide', width: 400, height: 100 }), f.addFrame({ name: 'Tall', width: 100, height: 300, x: 500 }), f.addFrame({ name: 'Square', width: 250, height: 250, x: 700 }));
      },
    });
    await fake.select(frames);
    const jobs = await generate(fake);
    expect(jobs.map((j) => [j.frameName, j.body.width, j.body.height])).toEqual([
      ['Wide', 800, 200],
      ['Tall', 200, 600],
      ['Square', 500, 500],
    ]);
    expect(new Set(jobs.map((j) => j.jobId)).size).toBe(3);
    expect(jobs.every((j) => j.body.seed === 1234)).toBe(true);
    expect(fake.notices.at(-1)?.message).toBe('Generating 3 images…');

    // results arrive in any order
    for (const job of [jobs[2], jobs[0], jobs[1]]) await finishJob(fake, job);
    for (const [i, frame] of frames.entries()) {
      const [fill] = imageFills(frame);
      expect(fake.images.get(fill.imageHash!)).toMatchObject({ width: jobs[i].body.width, height: jobs[i].body.height });
    }
  });

  it('creates a 1024×1024 frame at the viewport centre when nothing is selected', async () => {
    const { fake, figma } = await startPlugin();
    expect(fake.lastMessage('selection').selection.newFrame).toEqual({ width: 1024, height: 1024, target: { width: 2048, height: 2048, clamped: false } });
    const [job] = await generate(fake);
    const frame = figma.currentPage.selection[0] as FrameNode;
    expect(frame.type).toBe('FRAME');
    expect([frame.width, frame.height, frame.x + frame.width / 2, frame.y + frame.height / 2]).toEqual([1024, 1024, 500, 300]);
    expect([job.nodeId, job.body.width, job.body.height]).toEqual([frame.id, 2048, 2048]);
  });

  it("makes the new frame at the connected model's native side", async () => {
    const { fake, figma } = await startPlugin();
    await fake.send({ type: 'limits', limits: { minSide: 64, maxSide: 4096, maxPixels: 4096 * 4096, nativeSide: 512 } });
    expect(fake.lastMessage('selection').selection.newFrame).toEqual({ width: 512, height: 512, target: { width: 1024, height: 1024, clamped: false } });
    const [job] = await generate(fake);
    const frame = figma.currentPage.selection[0] as FrameNode;
    expect([frame.width, frame.height, job.body.width, job.body.height]).toEqual([512, 512, 1024, 1024]);
  });

  it('refuses a selection without frames in plain words', async () => {
    const { fake, figma } = await startPlugin();
    const rect = figma.createRectangle();
    await fake.select([rect]);
    expect(fake.lastMessage('selection').selection).toMatchObject({ frames: [], newFrame: null, skipped: 1 });
    expect(await generate(fake)).toEqual([]);
    expect(fake.notices.at(-1)).toEqual({ message: 'Select one or more frames: there is no frame in the selection.', error: true });
  });

  it('refuses an empty prompt', async () => {
    const { fake } = await startPlugin();
    expect(await generate(fake, { prompt: '   ' })).toEqual([]);
    expect(fake.notices.at(-1)).toEqual({ message: 'Type a prompt first.', error: true });
    expect(fake.countNodes('FRAME')).toBe(0);
  });

  it('stores the parameters with setPluginData and offers Regenerate with setRelaunchData', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Poster', width: 500, height: 700 })) });
    await fake.select([frame]);
    const [job] = await generate(fake, { prompt: 'x'.repeat(2000), steps: 12, guidance: 4, method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 'auto', seed: 99 });
    expect(job.body).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 1.5, dypeExponent: 'auto' });
    await finishJob(fake, job);

    const stored = JSON.parse(frame.getPluginData('generation')) as Generation;
    expect(stored).toMatchObject({
      version: 1,
      prompt: 'x'.repeat(2000),
      seed: 99,
      method: 'dy-vision-yarn',
      dypeScale: 1.5,
      dypeExponent: 'auto',
      steps: 12,
      guidance: 4,
      width: 1000,
      height: 1400,
      frameWidth: 500,
      frameHeight: 700,
      jobId: job.jobId,
      model: 'dype-demo',
      tiles: 1,
      imageHash: expect.any(String),
      density: { kind: 'scale', scale: 2 },
    });
    expect(stored.imageHash).toBe(imageFills(frame)[0].imageHash);
    expect(frame.getPluginData('generation').length).toBeLessThan(10_000);

    const relaunch = frame.getRelaunchData();
    expect(Object.keys(relaunch)).toEqual(['regenerate', 'open']);
    expect(relaunch.open).toBe('');
    // a 2000-character prompt is shortened to fit Figma's 1000-character description limit
    expect(relaunch.regenerate.length).toBeLessThanOrEqual(1000);
    expect(relaunch.regenerate).toMatch(/…” · seed 99 · 1000×1400 px$/);
  });

  it('shows the live preview as a temporary fill and replaces it with the result', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 200, height: 150 })) });
    await fake.select([frame]);
    const [job] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12, 10) });
    expect(fake.images.get(imageFills(frame)[0].imageHash!)).toMatchObject({ width: 16, height: 12 });
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(32, 24, 20) });
    expect(imageFills(frame)).toHaveLength(1);
    await finishJob(fake, job, { preview: false });
    expect(imageFills(frame)).toHaveLength(1);
    expect(fake.images.get(imageFills(frame)[0].imageHash!)).toMatchObject({ width: 400, height: 300 });
  });

  it('replaces the previous generated fill instead of stacking fills, keeping the user’s other fills', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({
      setup: async (f) => {
        frame = f.addFrame({ width: 100, height: 100 });
      },
    });
    await fake.select([frame]);
    const [first] = await generate(fake);
    await finishJob(fake, first, { shade: 10 });
    const firstHash = imageFills(frame)[0].imageHash;
    // the user adds a solid overlay on top of the generated image
    frame.fills = [...(frame.fills as readonly Paint[]), { type: 'SOLID', color: { r: 0, g: 0, b: 0 }, opacity: 0.2 }];
    const [second] = await generate(fake, { seed: 7 });
    await finishJob(fake, second, { shade: 200 });
    const types = (frame.fills as readonly Paint[]).map((p) => p.type);
    expect(types).toEqual(['SOLID', 'IMAGE', 'SOLID']);
    expect(imageFills(frame)[0].imageHash).not.toBe(firstHash);
  });

  it('makes each apply one undo step, with no step for previews', async () => {
    let frame!: FrameNode;
    const { fake, figma } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 120, height: 80 })) });
    await fake.select([frame]);
    const original = frame.fills;

    const [first] = await generate(fake);
    await finishJob(fake, first, { shade: 40 });
    expect(fake.hasUncommittedChanges()).toBe(false);
    const afterFirst = { fills: frame.fills, data: frame.getPluginData('generation') };
    const stepsAfterFirst = fake.undoSteps;

    const [second] = await generate(fake, { seed: 5 });
    await fake.send({ type: 'job-preview', jobId: second.jobId, png: await png(16, 12, 99) });
    await fake.send({ type: 'job-preview', jobId: second.jobId, png: await png(16, 12, 98) });
    expect(fake.undoSteps).toBe(stepsAfterFirst);
    expect(fake.hasUncommittedChanges()).toBe(true);
    await finishJob(fake, second, { preview: false, shade: 220 });
    expect(fake.undoSteps).toBe(stepsAfterFirst + 1);
    expect(fake.hasUncommittedChanges()).toBe(false);

    figma.triggerUndo();
    expect(frame.fills).toEqual(afterFirst.fills);
    expect(frame.getPluginData('generation')).toBe(afterFirst.data);
    figma.triggerUndo();
    expect(frame.fills).toEqual(original);
    expect(frame.getPluginData('generation')).toBe('');
  });

  it('does not start a second job on a frame that is still generating', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Busy', width: 100, height: 100 })) });
    await fake.select([frame]);
    const first: JobRequest[] = await generate(fake);
    expect(first).toHaveLength(1);
    expect(await generate(fake)).toEqual([]);
    expect(fake.notices.at(-1)).toEqual({ message: '“Busy” is already generating.', error: true });
  });
});
