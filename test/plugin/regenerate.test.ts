/** Resize detection (selection, documentchange, relaunch command) and regenerate with the stored prompt and seed. */
import { describe, expect, it } from 'vitest';
import type { FrameInfo, JobRequest } from '../../runtime/contract/index.ts';
import type { FakeFigma } from './fake-figma.ts';
import { finishJob, generate, imageFills, startPlugin } from './helpers.ts';

async function generatedFrames(fake: FakeFigma, sizes: [string, number, number][]): Promise<FrameNode[]> {
  const frames = sizes.map(([name, width, height], i) => fake.addFrame({ name, width, height, x: i * 1000 }));
  await fake.select(frames);
  const jobs = await generate(fake, { seed: 777, prompt: 'misty forest', density: { kind: 'scale', scale: 2 } });
  for (const job of jobs) await finishJob(fake, job);
  await fake.select([]);
  return frames;
}

function outdatedList(fake: FakeFigma): FrameInfo[] {
  return fake.lastMessage('outdated').frames;
}

describe('resize and regenerate', () => {
  it('lists a frame as out of date when documentchange reports a new width or height', async () => {
    const { fake } = await startPlugin();
    const [hero] = await generatedFrames(fake, [['Hero', 800, 400]]);
    expect(outdatedList(fake)).toEqual([]);

    fake.resizeByUser(hero, 800, 600);
    await fake.flush();
    expect(outdatedList(fake)).toMatchObject([{ id: hero.id, name: 'Hero', width: 800, height: 600, outdated: 'aspect', target: { width: 1600, height: 1200 } }]);

    // same aspect, different size: out of date because the pixel density no longer holds
    fake.resizeByUser(hero, 1600, 800);
    await fake.flush();
    expect(outdatedList(fake)).toMatchObject([{ id: hero.id, outdated: 'size', target: { width: 3200, height: 1600 } }]);

    // back to the size it was generated for
    fake.resizeByUser(hero, 800, 400);
    await fake.flush();
    expect(outdatedList(fake)).toEqual([]);
  });

  it('forgets an out-of-date frame that is deleted', async () => {
    const { fake } = await startPlugin();
    const [hero] = await generatedFrames(fake, [['Hero', 300, 300]]);
    fake.resizeByUser(hero, 300, 200);
    await fake.flush();
    expect(outdatedList(fake)).toHaveLength(1);
    fake.deleteByUser(hero);
    await fake.flush();
    expect(outdatedList(fake)).toEqual([]);
  });

  it('follows the current page with "nodechange" and never loads all pages', async () => {
    const { fake } = await startPlugin();
    expect(fake.pageListenerCount(fake.page)).toBe(1);
    expect(fake.loadAllPagesCalls).toBe(0);
    const [hero] = await generatedFrames(fake, [['Hero', 300, 300]]);
    fake.resizeByUser(hero, 300, 200);
    await fake.flush();
    expect(outdatedList(fake)).toMatchObject([{ id: hero.id }]);
    expect(fake.loadAllPagesCalls).toBe(0);
  });

  it('lists the out-of-date frames of the page the user goes to, and follows that page', async () => {
    const first = await startPlugin();
    const [made] = await generatedFrames(first.fake, [['Made', 200, 100]]);
    const stored = made.getPluginData('generation');

    let hero!: FrameNode;
    let other!: PageNode;
    let resized!: FrameNode;
    let fine!: FrameNode;
    const { fake } = await startPlugin({
      setup: (f) => {
        hero = f.addFrame({ name: 'Hero', width: 200, height: 100 });
        hero.setPluginData('generation', stored);
        other = f.addPage('Page 2');
        resized = f.addFrame({ name: 'Resized', width: 300, height: 100, parent: other });
        resized.setPluginData('generation', stored);
        fine = f.addFrame({ name: 'Fine', width: 200, height: 100, parent: other });
        fine.setPluginData('generation', stored);
      },
    });
    fake.resizeByUser(hero, 200, 200);
    await fake.flush();
    expect(outdatedList(fake).map((f) => f.name)).toEqual(['Hero']);

    await fake.switchPage(other);
    // only the current page's frames
    expect(outdatedList(fake).map((f) => f.name)).toEqual(['Resized']);
    expect([fake.pageListenerCount(fake.page), fake.pageListenerCount(other)]).toEqual([0, 1]);
    fake.resizeByUser(fine, 250, 100);
    await fake.flush();
    expect(outdatedList(fake).map((f) => f.name)).toEqual(['Resized', 'Fine']);
    expect(fake.loadAllPagesCalls).toBe(0);
  });

  it('finds out-of-date frames already on the page at start and when selected', async () => {
    let old!: FrameNode;
    const first = await startPlugin();
    [old] = await generatedFrames(first.fake, [['Old', 200, 100]]);
    const stored = old.getPluginData('generation');

    // a new session on a document whose generated frame was resized while the plugin was closed
    const { fake } = await startPlugin({
      setup: (f) => {
        const frame = f.addFrame({ name: 'Old', width: 300, height: 100 });
        frame.setPluginData('generation', stored);
      },
    });
    expect(outdatedList(fake)).toMatchObject([{ name: 'Old', outdated: 'aspect', target: { width: 600, height: 200 } }]);
    const frame = fake.api.currentPage.findAllWithCriteria({ types: ['FRAME'] })[0];
    await fake.select([frame]);
    expect(fake.lastMessage('selection').selection.frames[0]).toMatchObject({ name: 'Old', outdated: 'aspect' });
  });

  it('regenerates at the new size with the same prompt, seed and settings', async () => {
    const { fake } = await startPlugin();
    const [hero] = await generatedFrames(fake, [['Hero', 800, 400]]);
    const before = JSON.parse(hero.getPluginData('generation'));
    fake.resizeByUser(hero, 500, 500);
    await fake.flush();

    const sent = fake.messagesOf('start-jobs').length;
    await fake.send({ type: 'regenerate', nodeIds: [hero.id] });
    const [job]: JobRequest[] = fake.messagesOf('start-jobs')[sent].jobs;
    expect(job.body).toMatchObject({ prompt: 'misty forest', seed: 777, width: 1000, height: 1000, method: before.method, steps: before.steps });
    expect(job.jobId).not.toBe(before.jobId);

    await finishJob(fake, job);
    const after = JSON.parse(hero.getPluginData('generation'));
    expect(after).toMatchObject({ seed: 777, prompt: 'misty forest', width: 1000, height: 1000, frameWidth: 500, frameHeight: 500, jobId: job.jobId });
    expect(fake.images.get(imageFills(hero)[0].imageHash!)).toMatchObject({ width: 1000, height: 1000 });
    expect(outdatedList(fake)).toEqual([]);
  });

  it('regenerates with the stored λ values, and without them for frames from before λ could be set', async () => {
    const { fake } = await startPlugin();
    const [withLambda, old] = await generatedFrames(fake, [['Banner', 800, 200], ['Old', 400, 400]]);
    const stored = JSON.parse(withLambda.getPluginData('generation'));
    withLambda.setPluginData('generation', JSON.stringify({ ...stored, method: 'dy-vision-yarn', dypeScale: 3, dypeExponent: 'auto' }));
    const { dypeScale: _s, dypeExponent: _e, ...oldRecord } = JSON.parse(old.getPluginData('generation'));
    old.setPluginData('generation', JSON.stringify(oldRecord));

    const sent = fake.messagesOf('start-jobs').length;
    await fake.send({ type: 'regenerate', nodeIds: [withLambda.id, old.id] });
    const jobs: JobRequest[] = fake.messagesOf('start-jobs')[sent].jobs;
    expect(jobs[0].body).toMatchObject({ method: 'dy-vision-yarn', dypeScale: 3, dypeExponent: 'auto' });
    expect(jobs[1].body).not.toHaveProperty('dypeScale');
    expect(jobs[1].body).not.toHaveProperty('dypeExponent');
  });

  it('regenerates every out-of-date frame in one batch', async () => {
    const { fake } = await startPlugin();
    const frames = await generatedFrames(fake, [
      ['A', 100, 100],
      ['B', 200, 100],
      ['C', 300, 100],
    ]);
    fake.resizeByUser(frames[0], 150, 100);
    fake.resizeByUser(frames[2], 300, 300);
    await fake.flush();
    const ids = outdatedList(fake).map((f) => f.id);
    expect(ids).toEqual([frames[0].id, frames[2].id]);

    const sent = fake.messagesOf('start-jobs').length;
    await fake.send({ type: 'regenerate', nodeIds: ids });
    const jobs: JobRequest[] = fake.messagesOf('start-jobs')[sent].jobs;
    expect(jobs.map((j) => [j.frameName, j.body.width, j.body.height, j.body.seed])).toEqual([
      ['A', 300, 200, 777],
      ['C', 600, 600, 777],
    ]);
    for (const job of jobs) await finishJob(fake, job);
    expect(outdatedList(fake)).toEqual([]);
  });

  it('the Regenerate relaunch button asks the UI to regenerate the selected frames', async () => {
    const first = await startPlugin();
    const [frame] = await generatedFrames(first.fake, [['Card', 100, 50]]);
    const stored = frame.getPluginData('generation');
    let card!: FrameNode;
    const { fake } = await startPlugin({
      command: 'regenerate',
      setup: async (f) => {
        card = f.addFrame({ name: 'Card', width: 100, height: 100 });
        card.setPluginData('generation', stored);
        f.api.currentPage.selection = [card];
      },
    });
    expect(fake.lastMessage('relaunch')).toEqual({ type: 'relaunch', command: 'regenerate', nodeIds: [card.id] });
    expect(outdatedList(fake)).toMatchObject([{ id: card.id, outdated: 'aspect' }]);
    // the UI, once connected, sends it back
    await fake.send({ type: 'regenerate', nodeIds: [card.id] });
    expect(fake.lastMessage('start-jobs').jobs[0].body).toMatchObject({ width: 200, height: 200, seed: 777 });
  });

  it('explains frames it cannot regenerate instead of failing', async () => {
    const { fake } = await startPlugin();
    const plain = fake.addFrame({ name: 'Plain', width: 10, height: 10 });
    await fake.send({ type: 'regenerate', nodeIds: [plain.id, '9:999'] });
    expect(fake.messagesOf('start-jobs')).toEqual([]);
    expect(fake.notices.at(-1)).toEqual({ message: '“Plain” has no DyPE image to regenerate. A frame to regenerate no longer exists.', error: true });
  });
});
