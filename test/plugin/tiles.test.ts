/** Results above Figma's 4096 px image limit: a locked group of image tiles that covers the frame. */
import { describe, expect, it } from 'vitest';
import { MAX_IMAGE_SIDE } from './fake-figma.ts';
import { finishJob, generate, imageFills, png, startPlugin } from './helpers.ts';

describe('tiling above 4096 px', () => {
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
    expect(stored).toMatchObject({ width: 6000, height: 2000, tiles: 2, imageHash: null, tilesGroupId: group.id });
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

  it('places tiles absolutely inside auto-layout frames', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 2100, height: 400, layoutMode: 'VERTICAL' })) });
    await fake.select([frame]);
    const [job] = await generate(fake);
    await finishJob(fake, job);
    const group = frame.children[0] as GroupNode;
    expect(group.layoutPositioning).toBe('ABSOLUTE');
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
