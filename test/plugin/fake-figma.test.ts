/** The fake `figma` enforces the documented rules the plugin tests rely on. */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { FakeFigma, imageHeaderSize } from './fake-figma.ts';
import { png } from './helpers.ts';

describe('fake figma', () => {
  it('reads image sizes from PNG, JPEG and GIF headers', async () => {
    expect(imageHeaderSize(await png(321, 123))).toEqual({ width: 321, height: 123 });
    const jpeg = new Uint8Array(await sharp({ create: { width: 77, height: 55, channels: 3, background: '#808080' } }).jpeg().toBuffer());
    expect(imageHeaderSize(jpeg)).toEqual({ width: 77, height: 55 });
    const gif = new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 10, 0, 20, 0, 0, 0, 0]);
    expect(imageHeaderSize(gif)).toEqual({ width: 10, height: 20 });
    expect(imageHeaderSize(new Uint8Array([1, 2, 3]))).toBeNull();
  });

  it('createImage rejects images above 4096 px per side and bytes that are not an image', async () => {
    const { api } = new FakeFigma();
    expect(api.createImage(await png(4096, 10)).hash).toMatch(/^[0-9a-f]{40}$/);
    const wide = await png(4097, 10);
    expect(() => api.createImage(wide)).toThrow(/too large/);
    expect(() => api.createImage(new TextEncoder().encode('not an image'))).toThrow(/unsupported/);
  });

  it('limits plugin data to 100 kB per node and takes only strings', () => {
    const fake = new FakeFigma();
    const frame = fake.addFrame({ width: 10, height: 10 });
    frame.setPluginData('a', 'x'.repeat(60_000));
    expect(() => frame.setPluginData('b', 'x'.repeat(60_000))).toThrow(/100 kB/);
    expect(() => frame.setPluginData('a', 42 as unknown as string)).toThrow(TypeError);
    frame.setPluginData('a', '');
    expect(frame.getPluginDataKeys()).toEqual([]);
  });

  it('checks relaunch data against the manifest', () => {
    const fake = new FakeFigma();
    const frame = fake.addFrame({ width: 10, height: 10 });
    frame.setRelaunchData({ regenerate: 'why', open: '' });
    expect(frame.getRelaunchData()).toEqual({ regenerate: 'why', open: '' });
    expect(() => frame.setRelaunchData({ 're-generate': '' })).toThrow(/alphanumeric/);
    expect(() => frame.setRelaunchData({ edit: '' })).toThrow(/relaunchButtons/);
    expect(() => frame.setRelaunchData({ regenerate: 'x'.repeat(1001) })).toThrow(/1000/);
    frame.setRelaunchData({ open: '' });
    expect(frame.getRelaunchData()).toEqual({ open: '' });
  });

  it('freezes fills, makes width read-only and throws on removed nodes', () => {
    const fake = new FakeFigma();
    const frame = fake.addFrame({ width: 10, height: 10 });
    expect(() => (frame.fills as Paint[]).push({ type: 'SOLID', color: { r: 0, g: 0, b: 0 } })).toThrow(TypeError);
    expect(() => ((frame as { width: number }).width = 5)).toThrow(TypeError);
    expect(() => (frame.fills = [{ type: 'IMAGE', scaleMode: 'FILL', imageHash: 'unknown' }])).toThrow(/createImage/);
    frame.remove();
    expect(frame.removed).toBe(true);
    expect(() => frame.name).toThrow(/does not exist/);
  });

  it('needs loadAllPagesAsync before documentchange under dynamic-page, and has no getNodeById', async () => {
    const { api } = new FakeFigma();
    expect(() => api.on('documentchange', () => {})).toThrow(/loadAllPagesAsync/);
    expect(() => api.getNodeById('0:1')).toThrow(/getNodeByIdAsync/);
    await api.loadAllPagesAsync();
    expect(() => api.on('documentchange', () => {})).not.toThrow();
  });

  it('undoes to the last committed state', () => {
    const fake = new FakeFigma();
    const frame = fake.addFrame({ width: 10, height: 10 });
    fake.resetUndoHistory();
    frame.name = 'one';
    fake.api.commitUndo();
    frame.name = 'two';
    fake.api.triggerUndo();
    expect(frame.name).toBe('one');
    fake.api.triggerUndo();
    expect(frame.name).not.toBe('one');
  });
});
