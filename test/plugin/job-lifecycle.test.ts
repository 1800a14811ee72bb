/** Cancel, failure, a frame deleted or resized during a job, a refused image, closing mid-job. */
import { describe, expect, it } from 'vitest';
import { finishJob, generate, imageFills, png, resultImage, startPlugin } from './helpers.ts';

describe('job lifecycle', () => {
  it('cancel restores the fill the frame had before the preview', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Hero', width: 100, height: 100 })) });
    await fake.select([frame]);
    const [first] = await generate(fake);
    await finishJob(fake, first, { shade: 10 });
    const before = frame.fills;

    const [job] = await generate(fake, { seed: 2 });
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12, 200) });
    expect(frame.fills).not.toEqual(before);
    await fake.send({ type: 'job-ended', jobId: job.jobId, outcome: 'cancelled', message: 'Cancelled.' });
    expect(frame.fills).toEqual(before);
    expect(fake.notices.at(-1)).toEqual({ message: 'Cancelled “Hero”; its previous image is back.', error: false });
    // a late result for the cancelled job changes nothing
    await finishJob(fake, job, { preview: false, shade: 250 });
    expect(frame.fills).toEqual(before);
  });

  it('cancel keeps what the user changed while the job waited, and the preview keeps fills added meanwhile', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Hero', width: 100, height: 100 })) });
    await fake.select([frame]);
    const [job] = await generate(fake);
    // queued behind other jobs for minutes: the user recolours the frame
    const red: Paint = { type: 'SOLID', color: { r: 1, g: 0, b: 0 } };
    fake.setFillsByUser(frame, [red]);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12, 10) });
    expect((frame.fills as readonly Paint[]).map((p) => p.type)).toEqual(['SOLID', 'IMAGE']);
    // during the job the user puts a tint on top; the next preview keeps it
    const tint: Paint = { type: 'SOLID', color: { r: 0, g: 0, b: 0 }, opacity: 0.2 };
    fake.setFillsByUser(frame, [...(frame.fills as readonly Paint[]), tint]);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(32, 24, 20) });
    const fills = frame.fills as readonly Paint[];
    expect(fills.map((p) => p.type)).toEqual(['SOLID', 'IMAGE', 'SOLID']);
    expect(fake.images.get((fills[1] as ImagePaint).imageHash!)).toMatchObject({ width: 32, height: 24 });

    await fake.send({ type: 'job-ended', jobId: job.jobId, outcome: 'cancelled', message: 'Cancelled.' });
    // back to what the frame had when the first preview showed
    expect(frame.fills).toEqual([red]);
  });

  it('cancel links the frame to its fill style again', async () => {
    let frame!: FrameNode;
    let style!: string;
    const { fake } = await startPlugin({
      setup: (f) => {
        style = f.addPaintStyle('Brand/Sand', [{ type: 'SOLID', color: { r: 0.9, g: 0.8, b: 0.6 } }]);
        frame = f.addFrame({ name: 'Hero', width: 100, height: 100, fillStyleId: style });
      },
    });
    await fake.select([frame]);
    const before = frame.fills;
    const [job] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12) });
    // a preview is a fill edit, which unlinks the style
    expect(frame.fillStyleId).toBe('');
    await fake.send({ type: 'job-ended', jobId: job.jobId, outcome: 'cancelled', message: 'Cancelled.' });
    expect(frame.fillStyleId).toBe(style);
    expect(frame.fills).toEqual(before);
  });

  it('a failed job restores the frame and says why', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Hero', width: 100, height: 100 })) });
    await fake.select([frame]);
    const before = frame.fills;
    const [job] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12) });
    await fake.send({ type: 'job-ended', jobId: job.jobId, outcome: 'failed', message: 'The companion is not running.' });
    expect(frame.fills).toEqual(before);
    expect(fake.notices.at(-1)).toEqual({ message: '“Hero” was not generated: The companion is not running.', error: true });
  });

  it('places the result in a new frame where a frame deleted during the job was', async () => {
    let frame!: FrameNode;
    const { fake, figma } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Gone', width: 320, height: 200, x: 40, y: 60 })) });
    await fake.select([frame]);
    const [job] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12) });
    fake.deleteByUser(frame);
    await fake.flush();
    await finishJob(fake, job, { preview: true });

    expect(frame.removed).toBe(true);
    const placed = figma.currentPage.selection[0] as FrameNode;
    expect([placed.name, placed.x, placed.y, placed.width, placed.height]).toEqual(['Gone', 40, 60, 320, 200]);
    expect(fake.images.get(imageFills(placed)[0].imageHash!)).toMatchObject({ width: 640, height: 400 });
    expect(fake.lastMessage('job-applied')).toMatchObject({ jobId: job.jobId, placement: 'new-frame' });
    expect(fake.notices.at(-1)).toEqual({ message: '“Gone” was deleted while generating, so the image went into a new frame.', error: false });
  });

  it('places the result in a new frame beside a frame resized during the job', async () => {
    let frame!: FrameNode;
    const { fake, figma } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Hero', width: 300, height: 200, x: 10, y: 20 })) });
    await fake.select([frame]);
    const before = frame.fills;
    const [job] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12) });
    fake.resizeByUser(frame, 500, 200);
    await fake.flush();
    await finishJob(fake, job, { preview: false });

    expect(frame.fills).toEqual(before);
    const placed = figma.currentPage.selection[0] as FrameNode;
    expect([placed.name, placed.x, placed.y, placed.width, placed.height]).toEqual(['Hero (generated)', 550, 20, 300, 200]);
    expect(JSON.parse(placed.getPluginData('generation'))).toMatchObject({ width: 600, height: 400, frameWidth: 300, frameHeight: 200 });
    expect(fake.lastMessage('job-applied')).toMatchObject({ placement: 'beside', frameName: 'Hero (generated)' });
  });

  it('puts the result for a frame deleted on another page on that page, without selecting it', async () => {
    let frame!: FrameNode;
    let other!: PageNode;
    const { fake, figma } = await startPlugin({
      setup: (f) => {
        frame = f.addFrame({ name: 'Gone', width: 320, height: 200, x: 40, y: 60 });
        other = f.addPage('Page 2');
      },
    });
    await fake.select([frame]);
    const [job] = await generate(fake);
    fake.deleteByUser(frame);
    await fake.switchPage(other);
    await finishJob(fake, job);

    expect(figma.currentPage).toBe(other);
    expect(other.children).toEqual([]);
    expect(other.selection).toEqual([]);
    const placed = fake.page.children.at(-1) as FrameNode;
    expect([placed.name, placed.x, placed.y, placed.width, placed.height]).toEqual(['Gone', 40, 60, 320, 200]);
    expect(imageFills(placed)).toHaveLength(1);
    expect(fake.page.selection).toEqual([]);
    expect(fake.notices.at(-1)).toEqual({ message: '“Gone” was deleted while generating, so the image went into a new frame on the page “Page 1”.', error: false });
  });

  it('puts the result beside a frame resized on another page, on that page', async () => {
    let frame!: FrameNode;
    let other!: PageNode;
    const { fake } = await startPlugin({
      setup: (f) => {
        frame = f.addFrame({ name: 'Hero', width: 300, height: 200, x: 10, y: 20 });
        other = f.addPage('Page 2');
      },
    });
    await fake.select([frame]);
    const [job] = await generate(fake);
    fake.resizeByUser(frame, 500, 200);
    await fake.switchPage(other);
    await finishJob(fake, job, { preview: false });

    expect(other.children).toEqual([]);
    const placed = fake.page.children.at(-1) as FrameNode;
    expect([placed.name, placed.x, placed.y]).toEqual(['Hero (generated)', 550, 20]);
    expect(fake.lastMessage('job-applied')).toMatchObject({ placement: 'beside', frameName: 'Hero (generated)' });
  });

  it('says plainly when the tiles do not cover the image (no talk of Figma’s 4096 px limit)', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Strip', width: 4096, height: 10 })) });
    await fake.select([frame]);
    const [job] = await generate(fake, { density: { kind: 'scale', scale: 1 } });
    const image = { width: 4096, height: 10, tiles: [{ x: 0, y: 0, width: 4096, height: 5, bytes: await png(4096, 5) }] };
    await fake.send({ type: 'job-result', jobId: job.jobId, meta: { jobId: job.jobId, prompt: 'p', seed: 1, steps: 8, guidance: null, method: 'dy-yarn', format: 'png', dypeScale: null, dypeExponent: null, model: 'm' }, image });
    expect(fake.notices.at(-1)).toEqual({ message: 'Could not place the image in “Strip”: The image tiles do not cover the 4096×10 image exactly.', error: true });
  });

  it('turns an image Figma refuses into a plain message and leaves the frame as it was', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Big', width: 2500, height: 100 })) });
    await fake.select([frame]);
    const before = frame.fills;
    const [job] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12) });
    // an untiled 5000 px image (the UI should have tiled it)
    const bytes = await png(5000, 200);
    await fake.send({ type: 'job-result', jobId: job.jobId, meta: { jobId: job.jobId, prompt: 'p', seed: 1, steps: 8, guidance: 3.5, method: 'dy-yarn', format: 'png', dypeScale: null, dypeExponent: null, model: 'm' }, image: { width: 5000, height: 200, tiles: [{ x: 0, y: 0, width: 5000, height: 200, bytes }] } });
    expect(frame.fills).toEqual(before);
    expect(frame.getPluginData('generation')).toBe('');
    expect(fake.lastMessage('job-failed')).toMatchObject({ jobId: job.jobId });
    expect(fake.notices.at(-1)?.message).toMatch(/^Could not place the image in “Big”: Figma cannot hold an image larger than 4096 px per side/);
    expect(fake.notices.at(-1)?.error).toBe(true);
  });

  it('rejects bytes that are not an image without touching the frame', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 50, height: 50 })) });
    await fake.select([frame]);
    const [job] = await generate(fake);
    const image = await resultImage(100, 100);
    image.tiles[0].bytes = new TextEncoder().encode('<html>not an image</html>');
    await fake.send({ type: 'job-result', jobId: job.jobId, meta: { jobId: job.jobId, prompt: 'p', seed: 1, steps: 8, guidance: null, method: 'dy-yarn', format: 'png', dypeScale: null, dypeExponent: null, model: 'm' }, image });
    expect(imageFills(frame)).toEqual([]);
    expect(fake.notices.at(-1)?.message).toMatch(/Figma could not read the image/);
  });

  it('ignores previews for unknown jobs and malformed messages', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 50, height: 50 })) });
    const before = frame.fills;
    await fake.send({ type: 'job-preview', jobId: 'nope', png: await png(8, 8) });
    await fake.send({ type: 'job-preview', jobId: 'nope', png: 'not bytes' });
    await fake.send({ type: 'no-such-message' });
    await fake.send('hello');
    await fake.send(null);
    expect(frame.fills).toEqual(before);
  });

  it('restores frames showing a preview when the plugin closes', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ width: 50, height: 50 })) });
    await fake.select([frame]);
    const before = frame.fills;
    const [job] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(8, 8) });
    await fake.close();
    expect(frame.fills).toEqual(before);
  });
});
