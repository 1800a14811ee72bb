/** Results above Figma's 4096 px image limit: a locked group of image tiles that covers the frame. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_IMAGE_SIDE } from './fake-figma.ts';
import { finishJob, generate, imageFills, png, startPlugin } from './helpers.ts';

describe('tiling above 4096 px', () => {
  afterEach(() => vi.restoreAllMocks());

  it('covers the frame with ≤ 4096 px tiles in a locked group named for the generation', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Billboard', width: 3000, height: 1000 })) });
    await fake.select([frame]);
    const [job] = await generate(fake, { density: { kind: 'scale', scale: 2 }, seed: 5 });
    expect([job.body.width, job.body.height]).toEqual([6000, 2000]);
    await finishJob(fake, job);

    // no generated fill on the frame itself: the tiles show the image
    expect(imageFills(frame)).toEqual([]);
    expect(frame.clipsContent).toBe(true);
    const group = frame.children[0] as GroupNode;
    expect(group.type).toBe('GROUP');
    expect(group.locked).toBe(true);
    expect(group.name).toBe('DyPE 6000×2000 · seed 5 · “a lighthouse at dawn”');
    // the group itself carries the mark that finds it again (not an id stored on the frame)
    expect(group.getPluginData('tiles')).toBe(job.jobId);
    const tiles = group.children as RectangleNode[];
    expect(tiles).toHaveLength(2);
    for (const tile of tiles) {
      const [paint] = imageFills(tile);
      expect(paint.scaleMode).toBe('FILL');
      const image = fake.images.get(paint.imageHash!)!;
      expect(Math.max(image.width, image.height)).toBeLessThanOrEqual(MAX_IMAGE_SIDE);
      // 2 px per point: a tile of w px is w / 2 points wide
      expect([tile.width, tile.height]).toEqual([image.width / 2, image.height / 2]);
    }
    expect(tiles.map((t) => [t.x, t.y])).toEqual([
      [0, 0],
      [1500, 0],
    ]);
    expect([group.x, group.y, group.width, group.height]).toEqual([0, 0, 3000, 1000]);

    const stored = JSON.parse(frame.getPluginData('generation'));
    expect(stored).toMatchObject({ width: 6000, height: 2000, tiles: 2, imageHash: null });
  });

  it('tiles in two directions and centres the image like FILL when the aspect differs slightly', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 1250, height: 1251 })) });
    await fake.select([frame]);
    const [job] = await generate(fake, { density: { kind: 'scale', scale: 4 } });
    expect([job.body.width, job.body.height]).toEqual([5000, 5004]);
    await finishJob(fake, job);
    const tiles = (frame.children[0] as GroupNode).children;
    expect(tiles).toHaveLength(4);
    const right = Math.max(...tiles.map((t) => t.x + t.width));
    const bottom = Math.max(...tiles.map((t) => t.y + t.height));
    expect(Math.min(...tiles.map((t) => t.x))).toBeLessThanOrEqual(0);
    expect(right).toBeGreaterThanOrEqual(1250 - 1e-9);
    expect(bottom).toBeCloseTo(1251, 9);
  });

  it('replaces old tiles on regenerate, and a later single-image result removes them', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 2100, height: 500 })) });
    await fake.select([frame]);
    const [big] = await generate(fake);
    await finishJob(fake, big);
    const firstGroup = frame.children[0];
    const [again] = await generate(fake, { seed: 9 });
    // the old tiles hide while the preview shows
    await fake.send({ type: 'job-preview', jobId: again.jobId, png: await png(16, 12) });
    expect(firstGroup.visible).toBe(false);
    await finishJob(fake, again, { preview: false });
    expect(firstGroup.removed).toBe(true);
    expect(frame.children).toHaveLength(1);
    expect(fake.countNodes('GROUP')).toBe(1);

    const [small] = await generate(fake, { density: { kind: 'scale', scale: 1 } });
    await finishJob(fake, small);
    expect(frame.children).toHaveLength(0);
    expect(imageFills(frame)).toHaveLength(1);
  });

  it('cancel shows the old tiles again', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 2100, height: 500 })) });
    await fake.select([frame]);
    const [big] = await generate(fake);
    await finishJob(fake, big);
    const group = frame.children[0];
    const [again] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: again.jobId, png: await png(16, 12) });
    expect(group.visible).toBe(false);
    await fake.send({ type: 'job-ended', jobId: again.jobId, outcome: 'cancelled', message: '' });
    expect(group.visible).toBe(true);
    expect(imageFills(frame)).toEqual([]);
  });

  it('places tiles absolutely inside auto-layout frames, covering the frame despite the padding', async () => {
    let frame!: FrameNode;
    let label!: FrameNode;
    const { fake } = await startPlugin({
      setup: (f) => {
        frame = f.addFrame({ width: 2100, height: 400, layoutMode: 'VERTICAL', padding: 24 });
        label = f.addFrame({ name: 'Label', width: 100, height: 20, parent: frame });
      },
    });
    await fake.select([frame]);
    const [job] = await generate(fake);
    await finishJob(fake, job);
    const group = frame.children[0] as GroupNode;
    expect(group.type).toBe('GROUP');
    expect(group.layoutPositioning).toBe('ABSOLUTE');
    // auto layout put the group after the padding when it was inserted; it must cover the frame
    expect([group.x, group.y, group.width, group.height]).toEqual([0, 0, 2100, 400]);
    // the group takes no room in the flow
    expect([label.x, label.y]).toEqual([24, 24]);
  });

  it('regenerating a duplicated frame replaces its own copy of the tiles, not the original’s', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Banner', width: 2100, height: 500 })) });
    await fake.select([frame]);
    const [first] = await generate(fake);
    await finishJob(fake, first);
    const originalGroup = frame.children[0];

    // Cmd+D copies the frame with its tiles and its plugin data
    const copy = fake.duplicateByUser(frame);
    expect(copy.getPluginData('generation')).toBe(frame.getPluginData('generation'));
    const copiedGroup = copy.children[0];
    expect(copiedGroup.id).not.toBe(originalGroup.id);

    await fake.select([copy]);
    const [again] = await generate(fake, { seed: 9 });
    // the preview hides the copy's tiles, not the original's
    await fake.send({ type: 'job-preview', jobId: again.jobId, png: await png(16, 12) });
    expect([copiedGroup.visible, originalGroup.visible]).toEqual([false, true]);
    await finishJob(fake, again, { preview: false });

    expect(copiedGroup.removed).toBe(true);
    expect(copy.children).toHaveLength(1);
    expect(copy.children[0].getPluginData('tiles')).toBe(again.jobId);
    expect(originalGroup.removed).toBe(false);
    expect(originalGroup.visible).toBe(true);
    expect(frame.children).toEqual([originalGroup]);
  });

  it('a failure while building the tiles leaves no stray rectangles and the frame with its old tiles', async () => {
    let frame!: FrameNode;
    const { fake, figma } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Banner', width: 2100, height: 500 })) });
    await fake.select([frame]);
    const [first] = await generate(fake);
    await finishJob(fake, first);
    const oldGroup = frame.children[0];
    const before = { fills: frame.fills, data: frame.getPluginData('generation'), clips: frame.clipsContent };

    const [again] = await generate(fake, { seed: 9 });
    await fake.send({ type: 'job-preview', jobId: again.jobId, png: await png(16, 12) });
    // Figma fails on the second tile
    const createRectangle = figma.createRectangle.bind(figma);
    let made = 0;
    vi.spyOn(figma, 'createRectangle').mockImplementation(() => {
      if (++made === 2) throw new Error('Out of memory');
      return createRectangle();
    });
    await finishJob(fake, again, { preview: false });

    expect(fake.countNodes('RECTANGLE')).toBe(2);
    expect(fake.countNodes('GROUP')).toBe(1);
    expect(frame.children).toEqual([oldGroup]);
    expect(oldGroup.visible).toBe(true);
    expect({ fills: frame.fills, data: frame.getPluginData('generation'), clips: frame.clipsContent }).toEqual(before);
    expect(fake.lastMessage('job-failed')).toEqual({ type: 'job-failed', jobId: again.jobId, message: 'Out of memory' });
    expect(fake.notices.at(-1)).toEqual({ message: 'Could not place the image in “Banner”: Out of memory', error: true });
    expect(fake.hasUncommittedChanges()).toBe(false);
  });

  it('rolls the frame back when storing the generation fails half way', async () => {
    let frame!: FrameNode;
    // a manifest without relaunch buttons: setRelaunchData throws after the tiles are in the frame
    const { fake } = await startPlugin({
      manifest: { documentAccess: 'dynamic-page', relaunchButtons: [] },
      setup: (f) => void (frame = f.addFrame({ name: 'Banner', width: 2100, height: 500 })),
    });
    await fake.select([frame]);
    const before = { fills: frame.fills, clips: frame.clipsContent };
    const [job] = await generate(fake);
    await finishJob(fake, job);

    expect(fake.countNodes('RECTANGLE')).toBe(0);
    expect(fake.countNodes('GROUP')).toBe(0);
    expect({ fills: frame.fills, clips: frame.clipsContent }).toEqual(before);
    expect(frame.getPluginData('generation')).toBe('');
    expect(fake.lastMessage('job-failed')).toMatchObject({ jobId: job.jobId, message: expect.stringMatching(/relaunchButtons/) });
    expect(fake.messagesOf('job-applied')).toEqual([]);
    expect(fake.hasUncommittedChanges()).toBe(false);
  });

  it('refuses up front to tile a frame inside a component instance, and fills it when the image fits', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({
      setup: (f) => {
        const card = f.addInstance({ name: 'Card', width: 2200, height: 600 });
        frame = f.addFrame({ name: 'Cover', width: 2100, height: 500, parent: card });
      },
    });
    await fake.select([frame]);
    expect(await generate(fake, { density: { kind: 'scale', scale: 2 } })).toEqual([]);
    expect(fake.notices.at(-1)).toEqual({
      message: '“Cover” is inside a component instance, where Figma allows no new layers, so its 4200×1000 px image cannot be placed as tiles. Choose a size of at most 4096 px per side, or detach the instance.',
      error: true,
    });

    const [job] = await generate(fake, { density: { kind: 'scale', scale: 1 } });
    await finishJob(fake, job);
    expect(imageFills(frame)).toHaveLength(1);
    expect(fake.countNodes('GROUP')).toBe(0);
  });

  it('undoes a tiled apply in one step', async () => {
    let frame!: FrameNode;
    const { fake, figma } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 2100, height: 500 })) });
    await fake.select([frame]);
    const before = frame.fills;
    const [job] = await generate(fake);
    await finishJob(fake, job);
    expect(fake.countNodes('RECTANGLE')).toBe(2);
    figma.triggerUndo();
    expect(fake.countNodes('RECTANGLE')).toBe(0);
    expect(fake.countNodes('GROUP')).toBe(0);
    expect(frame.fills).toEqual(before);
    expect(frame.getPluginData('generation')).toBe('');
  });
});
