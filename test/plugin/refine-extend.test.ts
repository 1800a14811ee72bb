/**
 * Refine and Extend against the fake `figma`: the picture a frame shows is read with
 * getImageByHash().getBytesAsync() and handed to the UI with the keep rectangle that the moved edges
 * give; a user's own image fill can be refined; a tiled picture goes over tile by tile with its pixel
 * offsets; each result is one undo step.
 */
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FrameInfo, JobRequest } from '../../runtime/contract/index.ts';
import type { FakeFigma } from './fake-figma.ts';
import { finishJob, generate, imageFills, png, resultImage, startPlugin } from './helpers.ts';

/** A 400×300 pt frame at (100, 50) with a generated 800×600 px image (density 2×). */
async function generatedFrame(fake: FakeFigma, size = { width: 400, height: 300 }): Promise<{ frame: FrameNode; hash: string }> {
  const frame = fake.addFrame({ name: 'Hero', x: 100, y: 50, ...size });
  await fake.select([frame]);
  const [job] = await generate(fake, { seed: 777, prompt: 'misty forest' });
  await finishJob(fake, job, { shade: 60 });
  await fake.select([]);
  return { frame, hash: imageFills(frame)[0].imageHash! };
}

async function regenerate(fake: FakeFigma, nodeIds: string[], action: string | null = null): Promise<JobRequest[]> {
  const before = fake.messagesOf('start-jobs').length;
  await fake.send({ type: 'regenerate', nodeIds, action, strength: null });
  return fake.messagesOf('start-jobs').slice(before).flatMap((m) => m.jobs as JobRequest[]);
}

function outdatedList(fake: FakeFigma): FrameInfo[] {
  return fake.lastMessage('outdated').frames;
}

describe('Extend after a resize', () => {
  // 2 px per point: the old 800×600 px picture keeps its pixels where the frame kept it
  const cases = [
    { edge: 'right', size: [1000, 600], keep: { x: 0, y: 0 } },
    { edge: 'left', size: [1000, 600], keep: { x: 200, y: 0 } },
    { edge: 'bottom', size: [800, 800], keep: { x: 0, y: 0 } },
    { edge: 'top', size: [800, 800], keep: { x: 0, y: 200 } },
  ] as const;
  for (const { edge, size, keep } of cases) {
    it(`keeps the old picture where the frame kept it when the ${edge} edge moved`, async () => {
      const { fake } = await startPlugin();
      const { frame, hash } = await generatedFrame(fake);
      fake.dragEdgeByUser(frame, edge, 100);
      await fake.flush();
      expect(outdatedList(fake)).toMatchObject([{ id: frame.id, outdated: 'aspect', proposed: 'extend', image: { width: 800, height: 600 } }]);

      // Regenerate all: each frame's proposal
      const [job] = await regenerate(fake, [frame.id]);
      expect(job.body).toMatchObject({ width: size[0], height: size[1], seed: 777 });
      expect(job.init?.keep).toMatchObject({ ...keep, width: 800, height: 600 });
      expect(job.init?.crop).toEqual({ x: 0, y: 0, width: 800, height: 600 });
      // the bytes Figma holds for the frame's fill
      expect(job.init?.image.tiles).toHaveLength(1);
      expect(job.init?.image.tiles[0].bytes).toEqual(fake.images.get(hash)!.bytes);
    });
  }

  it('proposes Refine when only the size changed, and upscales to the frame’s density', async () => {
    const { fake } = await startPlugin();
    const { frame } = await generatedFrame(fake);
    fake.resizeByUser(frame, 600, 450);
    await fake.flush();
    expect(outdatedList(fake)).toMatchObject([{ id: frame.id, outdated: 'size', proposed: 'refine' }]);
    const [job] = await regenerate(fake, [frame.id]);
    expect(job.body).toMatchObject({ width: 1200, height: 900 });
    expect(job.init).toMatchObject({ keep: null, crop: null, strength: null, image: { width: 800, height: 600 } });
  });

  it('runs the action the user chose instead of the proposal', async () => {
    const { fake } = await startPlugin();
    const { frame } = await generatedFrame(fake);
    fake.dragEdgeByUser(frame, 'right', 100);
    await fake.flush();
    const [job] = await regenerate(fake, [frame.id], 'reimagine');
    expect(job.init).toBeUndefined();
    expect(job.body).toMatchObject({ width: 1000, height: 600 });
  });
});

describe('Refine any image fill', () => {
  let photo300!: Uint8Array;
  beforeAll(async () => {
    photo300 = await png(300, 200, 170);
  });

  it('upscales a picture the user placed, replacing its fill (settings kept) in one undo step', async () => {
    const photo = photo300;
    let frame!: FrameNode;
    let hash!: string;
    const { fake, figma } = await startPlugin({
      setup: (f) => {
        hash = f.api.createImage(photo).hash;
        frame = f.addFrame({ name: 'Photo', width: 150, height: 100, fills: [{ type: 'SOLID', color: { r: 0, g: 0, b: 0 } }, { type: 'IMAGE', scaleMode: 'FIT', imageHash: hash, opacity: 0.9 }] });
      },
    });
    await fake.select([frame]);
    expect(fake.lastMessage('selection').selection.frames).toMatchObject([{ id: frame.id, image: { width: 300, height: 200 }, generation: null }]);
    const before = frame.fills;

    await fake.send({ type: 'generate', params: { prompt: 'a sharper photo', method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, seed: 3, format: 'png', density: { kind: 'scale', scale: 1 } }, action: 'refine', upscale: 4, strength: 0.35 });
    const [job]: JobRequest[] = fake.lastMessage('start-jobs').jobs;
    expect(job.body).toMatchObject({ width: 1200, height: 800 });
    expect(job.init).toMatchObject({ strength: 0.35, keep: null, crop: null, image: { width: 300, height: 200 } });
    expect(job.init?.image.tiles[0].bytes).toEqual(photo);

    const steps = fake.undoSteps;
    await finishJob(fake, job, { shade: 30 });
    expect(fake.undoSteps).toBe(steps + 1);
    // the photo's paint, with its scale mode and opacity, now shows the 1200×800 result; the solid stays
    const fills = frame.fills as Paint[];
    expect(fills).toHaveLength(2);
    expect(fills[1]).toMatchObject({ type: 'IMAGE', scaleMode: 'FIT', opacity: 0.9 });
    expect(fake.images.get((fills[1] as ImagePaint).imageHash!)).toMatchObject({ width: 1200, height: 800 });

    figma.triggerUndo();
    expect(frame.fills).toEqual(before);
    expect(frame.getPluginData('generation')).toBe('');
  });

  it('previews in place of the user’s picture, and a cancel puts the picture back', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({
      setup: (f) => {
        const hash = f.api.createImage(photo300).hash;
        frame = f.addFrame({ name: 'Photo', width: 150, height: 100, fills: [{ type: 'IMAGE', scaleMode: 'FILL', imageHash: hash }] });
      },
    });
    await fake.select([frame]);
    const before = frame.fills;
    await fake.send({ type: 'generate', params: { prompt: 'p', method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, seed: 3, format: 'png', density: { kind: 'scale', scale: 1 } }, action: 'refine', upscale: 2, strength: null });
    const [job]: JobRequest[] = fake.lastMessage('start-jobs').jobs;
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12, 30) });
    // one paint: the preview took the picture's place rather than covering it
    expect(imageFills(frame)).toHaveLength(1);
    expect(fake.images.get(imageFills(frame)[0].imageHash!)).toMatchObject({ width: 16, height: 12 });
    await fake.send({ type: 'job-ended', jobId: job.jobId, outcome: 'cancelled', message: 'Cancelled.' });
    expect(frame.fills).toEqual(before);
  });

  it('refines a placed photo: a rectangle with an image fill, as Figma makes of a dropped image', async () => {
    let photo!: RectangleNode;
    let plain!: RectangleNode;
    const { fake, figma } = await startPlugin({
      setup: (f) => {
        photo = f.api.createRectangle();
        photo.name = 'Dropped photo';
        photo.resize(300, 200);
        photo.fills = [{ type: 'IMAGE', scaleMode: 'FILL', imageHash: f.api.createImage(photo300).hash }];
        plain = f.api.createRectangle();
      },
    });
    await fake.select([photo, plain]);
    // the plain rectangle is no picture: skipped
    expect(fake.lastMessage('selection').selection).toMatchObject({ frames: [{ id: photo.id, image: { width: 300, height: 200 } }], skipped: 1 });
    const before = photo.fills;

    await fake.send({ type: 'generate', params: { prompt: 'sharper', method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, seed: 3, format: 'png', density: { kind: 'scale', scale: 1 } }, action: 'refine', upscale: 2, strength: null });
    const [job]: JobRequest[] = fake.lastMessage('start-jobs').jobs;
    expect(job.body).toMatchObject({ width: 600, height: 400 });
    expect(job.init?.image.tiles[0].bytes).toEqual(photo300);
    const steps = fake.undoSteps;
    await finishJob(fake, job, { shade: 30 });
    expect(fake.undoSteps).toBe(steps + 1);
    expect(fake.images.get(imageFills(photo)[0].imageHash!)).toMatchObject({ width: 600, height: 400 });
    expect(JSON.parse(photo.getPluginData('generation'))).toMatchObject({ jobId: job.jobId, width: 600, height: 400 });
    // one undo step back to the photo
    figma.triggerUndo();
    expect(photo.fills).toEqual(before);
  });

  it('follows a refined rectangle that is resized, and proposes Extend', async () => {
    let photo!: RectangleNode;
    const { fake } = await startPlugin({
      setup: (f) => {
        photo = f.api.createRectangle();
        photo.resize(300, 200);
        photo.fills = [{ type: 'IMAGE', scaleMode: 'FILL', imageHash: f.api.createImage(photo300).hash }];
      },
    });
    await fake.select([photo]);
    await fake.send({ type: 'generate', params: { prompt: 'sharper', method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, seed: 3, format: 'png', density: { kind: 'scale', scale: 1 } }, action: 'refine', upscale: 2, strength: null });
    await finishJob(fake, fake.lastMessage('start-jobs').jobs[0]);
    fake.dragEdgeByUser(photo, 'bottom', 100);
    await fake.flush();
    expect(outdatedList(fake)).toMatchObject([{ id: photo.id, outdated: 'aspect', proposed: 'extend' }]);
    const [job] = await regenerate(fake, [photo.id]);
    // 2 px per point, the stored density of a 600×400 image on a 300×200 rectangle
    expect(job.body).toMatchObject({ width: 600, height: 600 });
    expect(job.init?.keep).toMatchObject({ x: 0, y: 0, width: 600, height: 400 });
  });

  it('does not tile onto a rectangle: a result above 4096 px needs a frame', async () => {
    let photo!: RectangleNode;
    const { fake } = await startPlugin({
      setup: (f) => {
        photo = f.api.createRectangle();
        photo.name = 'Dropped photo';
        photo.resize(300, 200);
        photo.fills = [{ type: 'IMAGE', scaleMode: 'FILL', imageHash: f.api.createImage(photo300).hash }];
      },
    });
    await fake.select([photo]);
    await fake.send({ type: 'generate', params: { prompt: 'huge', method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, seed: 3, format: 'png', density: { kind: 'longest', px: 6000 } }, action: 'reimagine', upscale: 2, strength: null });
    expect(fake.messagesOf('start-jobs')).toEqual([]);
    expect(fake.notices.at(-1)).toEqual({ error: true, message: expect.stringMatching(/^“Dropped photo” is a rectangle, which holds one image of at most 4096 px per side, so its 6000×4000 px image/) });
  });

  it('explains a frame with no picture instead of refining it', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Empty', width: 100, height: 100 })) });
    await fake.select([frame]);
    expect(await generate(fake)).toHaveLength(1);
    const started = fake.messagesOf('start-jobs').length;
    await fake.send({ type: 'generate', params: { prompt: 'p', method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, seed: 3, format: 'png', density: { kind: 'scale', scale: 1 } }, action: 'refine', upscale: 2, strength: null });
    expect(fake.messagesOf('start-jobs')).toHaveLength(started);
    expect(fake.notices.at(-1)).toMatchObject({ error: true, message: expect.stringContaining('“Empty”') });
  });
});

describe('a tiled picture', () => {
  it('goes to the UI tile by tile with each tile’s pixel offset, to be stitched and uploaded', async () => {
    const { fake } = await startPlugin();
    // 2500×1000 pt at 2× is 5000×2000 px: two tiles of 2500×2000
    const frame = fake.addFrame({ name: 'Wide', width: 2500, height: 1000 });
    await fake.select([frame]);
    const [job] = await generate(fake);
    const image = await resultImage(job.body.width, job.body.height, 90);
    expect(image.tiles).toHaveLength(2);
    await finishJob(fake, job, { image });

    await fake.send({ type: 'generate', params: { prompt: 'p', method: 'dy-yarn', steps: 8, guidance: null, dypeScale: null, dypeExponent: null, seed: 3, format: 'png', density: { kind: 'scale', scale: 1 } }, action: 'refine', upscale: 1, strength: null });
    const [refine]: JobRequest[] = fake.lastMessage('start-jobs').jobs;
    expect(refine.body).toMatchObject({ width: 5000, height: 2000 });
    const tiles = refine.init!.image.tiles;
    expect(refine.init!.image).toMatchObject({ width: 5000, height: 2000 });
    expect(tiles.map(({ x, y, width, height }) => ({ x, y, width, height }))).toEqual(image.tiles.map(({ x, y, width, height }) => ({ x, y, width, height })));
    for (const [i, tile] of tiles.entries()) {
      expect(tile.bytes).toEqual(image.tiles[i].bytes);
      expect((await sharp(tile.bytes).metadata()).width).toBe(2500);
    }

    // the refined result replaces the tiles, in one undo step
    const steps = fake.undoSteps;
    await finishJob(fake, refine, { image: await resultImage(5000, 2000, 20) });
    expect(fake.undoSteps).toBe(steps + 1);
    expect(frame.children.filter((c) => c.type === 'GROUP')).toHaveLength(1);
    expect(JSON.parse(frame.getPluginData('generation'))).toMatchObject({ jobId: refine.jobId, tiles: 2 });
  });
});
