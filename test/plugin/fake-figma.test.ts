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

  it('limits each plugin data entry (plugin id + key + value) to 100 kB and takes only strings', () => {
    const fake = new FakeFigma();
    const frame = fake.addFrame({ width: 10, height: 10 });
    // the limit is per entry, as documented: two 60 kB entries fit
    frame.setPluginData('a', 'x'.repeat(60_000));
    frame.setPluginData('b', 'x'.repeat(60_000));
    // 'dype-fill-dev' + 'c' + value: 13 + 1 + 99_986 bytes is the most one entry holds
    frame.setPluginData('c', 'x'.repeat(99_986));
    expect(() => frame.setPluginData('c', 'x'.repeat(99_987))).toThrow(/100 kB/);
    expect(() => frame.setPluginData('cc', 'x'.repeat(99_986))).toThrow(/100 kB/);
    expect(() => frame.setPluginData('a', 42 as unknown as string)).toThrow(TypeError);
    for (const key of ['a', 'b', 'c']) frame.setPluginData(key, '');
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

  it('calls onmessage without waiting for it, keeping rejections as uncaught', async () => {
    const fake = new FakeFigma();
    let finished = false;
    fake.api.ui.onmessage = async () => {
      await new Promise((r) => setTimeout(r, 20));
      finished = true;
      throw new Error('late');
    };
    fake.post({ type: 'x' });
    expect(finished).toBe(false);
    await new Promise((r) => setTimeout(r, 40));
    expect(finished).toBe(true);
    expect(fake.uncaught).toEqual([new Error('late')]);
  });

  it('unlinks the fill style when fills are set; under dynamic-page only setFillStyleIdAsync links it', async () => {
    const fake = new FakeFigma();
    const style = fake.addPaintStyle('Sand', [{ type: 'SOLID', color: { r: 1, g: 0.9, b: 0.7 } }]);
    const frame = fake.addFrame({ width: 10, height: 10, fillStyleId: style });
    expect(frame.fillStyleId).toBe(style);
    frame.fills = [{ type: 'SOLID', color: { r: 0, g: 0, b: 0 } }];
    expect(frame.fillStyleId).toBe('');
    expect(() => ((frame as { fillStyleId: string }).fillStyleId = style)).toThrow(/setFillStyleIdAsync/);
    await frame.setFillStyleIdAsync(style);
    expect([frame.fillStyleId, (frame.fills as readonly SolidPaint[])[0].color]).toEqual([style, { r: 1, g: 0.9, b: 0.7 }]);
  });

  it('reports changes to "nodechange" listeners of the node’s page, and switches pages asynchronously', async () => {
    const fake = new FakeFigma();
    const other = fake.addPage('Page 2');
    const frame = fake.addFrame({ width: 10, height: 10 });
    const seen: string[] = [];
    fake.page.on('nodechange', (e) => void seen.push(...e.nodeChanges.map((c) => `1:${c.type}`)));
    other.on('nodechange', (e) => void seen.push(...e.nodeChanges.map((c) => `2:${c.type}`)));
    fake.api.on('currentpagechange', () => void seen.push('page'));
    fake.resizeByUser(frame, 20, 20);
    await fake.flush();
    expect(seen).toEqual(['1:PROPERTY_CHANGE']);
    expect(() => (fake.api.currentPage = other)).toThrow(/setCurrentPageAsync/);
    // not loaded until it is current
    expect(() => other.children).toThrow(/loadAsync/);
    await fake.switchPage(other);
    expect(seen).toEqual(['1:PROPERTY_CHANGE', 'page']);
    expect(fake.api.currentPage).toBe(other);
    expect(fake.api.createFrame().parent).toBe(other);
  });

  it('adds nothing inside an instance, lays out auto-layout children, and clones with plugin data', () => {
    const fake = new FakeFigma();
    const instance = fake.addInstance({ width: 100, height: 100 });
    const inner = fake.addFrame({ width: 50, height: 50, parent: instance });
    expect(() => inner.appendChild(fake.api.createRectangle())).toThrow(/instance/);

    const column = fake.addFrame({ width: 200, height: 200, layoutMode: 'VERTICAL', padding: 10 });
    const a = fake.addFrame({ width: 50, height: 30, x: 99, y: 99 });
    const b = fake.addFrame({ width: 50, height: 20 });
    column.appendChild(a);
    column.appendChild(b);
    expect([a.x, a.y, b.x, b.y]).toEqual([10, 10, 10, 40]);
    a.layoutPositioning = 'ABSOLUTE';
    expect([b.x, b.y]).toEqual([10, 10]);
    const group = fake.api.group([fake.api.createRectangle()], fake.page);
    group.x = 70;
    expect([group.x, (group.children[0] as RectangleNode).x]).toEqual([70, 70]);

    b.setPluginData('k', 'v');
    const copy = b.clone();
    expect([copy.id === b.id, copy.getPluginData('k'), copy.parent]).toEqual([false, 'v', fake.page]);
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
