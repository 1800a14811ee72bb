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

  it('turns an image Figma refuses into a plain message and leaves the frame as it was', async () => {
    let frame!: FrameNode;
    const { fake } = await startPlugin({ setup: (f) => void (frame = f.addFrame({ name: 'Big', width: 2500, height: 100 })) });
    await fake.select([frame]);
    const before = frame.fills;
    const [job] = await generate(fake);
    await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12) });
    // an untiled 5000 px image (the UI should have tiled it)
    const bytes = await png(5000, 200);
    await fake.send({ type: 'job-result', jobId: job.jobId, meta: { jobId: job.jobId, prompt: 'p', seed: 1, steps: 8, guidance: 3.5, method: 'dy-yarn', format: 'png', model: 'm' }, image: { width: 5000, height: 200, tiles: [{ x: 0, y: 0, width: 5000, height: 200, bytes }] } });
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
    await fake.send({ type: 'job-result', jobId: job.jobId, meta: { jobId: job.jobId, prompt: 'p', seed: 1, steps: 8, guidance: null, method: 'dy-yarn', format: 'png', model: 'm' }, image });
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
