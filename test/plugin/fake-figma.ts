/**
 * A scripted fake of the `figma` global: the plugin's outside boundary. It is typed against
 * @figma/plugin-typings (`api` is a PluginAPI) and enforces the documented behaviour the plugin relies on:
 *
 * - `createImage` accepts PNG, JPEG and GIF only, reading the size from the header (PNG IHDR, JPEG SOF,
 *   GIF screen descriptor), and throws above 4096 px per side or on anything else;
 * - `setPluginData` takes strings and throws when one entry (plugin id + key + value) passes 100 kB;
 * - `setRelaunchData` keys must be alphanumeric and name a `relaunchButtons` command of manifest.json,
 *   descriptions at most 1000 characters, and each call replaces the previous data;
 * - `"documentAccess": "dynamic-page"`: `getNodeById` throws, `getNodeByIdAsync` resolves,
 *   `documentchange` can only be listened to after `loadAllPagesAsync`, `figma.currentPage` and
 *   `fillStyleId` are read-only (`setCurrentPageAsync`, `setFillStyleIdAsync`), and a page's children
 *   can only be read or added to once the page is loaded (it is current, or `loadAsync` ran);
 * - `page.on('nodechange')` reports changes on that page; "currentpagechange" follows a page switch;
 * - `fills` are frozen (replace the array, never mutate it), setting them unlinks the fill style,
 *   `width`/`height` are read-only (use resize), IMAGE paints must name an image made by createImage;
 * - nothing can be added inside a component instance (appendChild, insertChild, group throw);
 * - a child added to an auto-layout frame is moved into the layout flow (after the padding), unless
 *   its layoutPositioning is ABSOLUTE; moving a group moves its children;
 * - `clone()` copies a node with its children and plugin data, onto the current page;
 * - a removed node reports `removed === true` and throws on any other property access;
 * - `commitUndo` closes an undo step and `triggerUndo` reverts to the last committed state;
 * - `figma.ui.onmessage` is called without waiting for the handler, as Figma does;
 * - selection and document changes reach listeners asynchronously, as in Figma.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const MAX_IMAGE_SIDE = 4096;
export const PLUGIN_DATA_LIMIT = 100_000;
export const RELAUNCH_DESCRIPTION_LIMIT = 1000;
const PLUGIN_ID = 'dype-fill-dev';

type NodeKind = 'DOCUMENT' | 'PAGE' | 'FRAME' | 'RECTANGLE' | 'GROUP' | 'INSTANCE';

interface NodeState {
  id: string;
  type: NodeKind;
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
  visible: boolean;
  locked: boolean;
  clipsContent: boolean;
  layoutMode: 'NONE' | 'HORIZONTAL' | 'VERTICAL';
  layoutPositioning: 'AUTO' | 'ABSOLUTE';
  /** Auto-layout padding on every side. */
  padding: number;
  fills: Paint[];
  fillStyleId: string;
  pluginData: Record<string, string>;
  relaunchData: Record<string, string>;
  parentId: string | null;
  childIds: string[];
  alive: boolean;
}

type Snapshot = Map<string, NodeState>;

interface Manifest {
  documentAccess?: string;
  relaunchButtons?: { command: string; name: string }[];
}

export interface FakeFigmaOptions {
  /** figma.command; '' when run from the menu. */
  command?: string;
  manifest?: Manifest;
}

export interface Notice {
  message: string;
  error: boolean;
}

const NODE_KINDS_WITH_CHILDREN = new Set<NodeKind>(['DOCUMENT', 'PAGE', 'FRAME', 'GROUP', 'INSTANCE']);

/** Width and height from a PNG, JPEG or GIF header, or null when the bytes are none of those. */
export function imageHeaderSize(bytes: Uint8Array): { width: number; height: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 24 && png.every((b, i) => bytes[i] === b)) {
    const type = String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]);
    return type === 'IHDR' ? { width: view.getUint32(16), height: view.getUint32(20) } : null;
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return null;
      const marker = bytes[i + 1];
      if (marker === 0xff) {
        i++;
        continue;
      }
      const length = view.getUint16(i + 2);
      const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (sof) return { height: view.getUint16(i + 5), width: view.getUint16(i + 7) };
      i += 2 + length;
    }
    return null;
  }
  const gif = String.fromCharCode(...bytes.subarray(0, 6));
  if (bytes.length >= 10 && (gif === 'GIF87a' || gif === 'GIF89a')) return { width: view.getUint16(6, true), height: view.getUint16(8, true) };
  return null;
}

export class FakeFigma {
  readonly api: PluginAPI;
  /** Messages the plugin posted to its UI, in order (structured-cloned, as postMessage does). */
  readonly messages: any[] = [];
  readonly notices: Notice[] = [];
  readonly images = new Map<string, { bytes: Uint8Array; width: number; height: number }>();
  readonly storage = new Map<string, unknown>();
  showUIOptions: ShowUIOptions | null = null;
  /** Committed undo steps that changed something. */
  undoSteps = 0;
  closed = false;

  /** Times the plugin called loadAllPagesAsync. */
  loadAllPagesCalls = 0;
  /** Rejections of promises the plugin's onmessage handler returned (Figma would log them as uncaught). */
  readonly uncaught: unknown[] = [];

  private readonly states = new Map<string, NodeState>();
  private readonly nodes = new Map<string, BaseNode>();
  private readonly listeners = new Map<string, Set<(...args: any[]) => unknown>>();
  /** "nodechange" listeners by page id. */
  private readonly pageListeners = new Map<string, Set<(event: NodeChangeEvent) => unknown>>();
  private readonly paintStyles = new Map<string, { name: string; paints: Paint[] }>();
  private readonly history: Snapshot[] = [];
  private readonly manifest: Manifest;
  private readonly dynamicPage: boolean;
  /** Selected node ids by page id (each page keeps its own selection). */
  private readonly selections = new Map<string, string[]>();
  private readonly loadedPages = new Set<string>();
  private currentPageId: string;
  private pagesLoaded = false;
  private nextId = 1;
  private onmessage: ((message: unknown, props: OnMessageProperties) => unknown) | undefined;
  private pendingChanges: { change: DocumentChange; pageId: string | null }[] = [];
  private documentTimer: ReturnType<typeof setTimeout> | null = null;
  readonly document: DocumentNode;
  /** The first page, current when the plugin starts. */
  readonly page: PageNode;

  constructor(options: FakeFigmaOptions = {}) {
    this.manifest = options.manifest ?? (JSON.parse(readFileSync(new URL('../../manifest.json', import.meta.url), 'utf8')) as Manifest);
    this.dynamicPage = this.manifest.documentAccess === 'dynamic-page';
    this.document = this.createNode('DOCUMENT', null) as DocumentNode;
    this.page = this.createNode('PAGE', this.state(this.document.id).id) as PageNode;
    this.state(this.page.id).name = 'Page 1';
    this.currentPageId = this.page.id;
    this.loadedPages.add(this.page.id);
    this.api = this.buildApi(options.command ?? '');
    this.history.push(this.snapshot());
  }

  // ---- test controls -------------------------------------------------------------------------

  /** Installs this fake as the `figma` global and `__html__`. */
  install(): this {
    (globalThis as any).figma = this.api;
    (globalThis as any).__html__ = '<html><body>ui</body></html>';
    return this;
  }

  /** A frame as a user would draw it (not through the plugin), on the first page or inside `parent`. */
  addFrame(props: {
    name?: string;
    width: number;
    height: number;
    x?: number;
    y?: number;
    fills?: Paint[];
    /** A style made with addPaintStyle; the frame shows its paints. */
    fillStyleId?: string;
    parent?: BaseNode;
    layoutMode?: 'NONE' | 'HORIZONTAL' | 'VERTICAL';
    padding?: number;
  }): FrameNode {
    const parent = props.parent ?? this.page;
    const node = this.createNode('FRAME', parent.id) as FrameNode;
    const s = this.state(node.id);
    const style = props.fillStyleId ? this.paintStyles.get(props.fillStyleId) : undefined;
    if (props.fillStyleId && !style) throw new Error(`No paint style ${props.fillStyleId}.`);
    Object.assign(s, {
      name: props.name ?? `Frame ${node.id}`,
      width: props.width,
      height: props.height,
      x: props.x ?? 0,
      y: props.y ?? 0,
      fills: structuredClone(style?.paints ?? props.fills ?? [{ type: 'SOLID', color: { r: 1, g: 1, b: 1 } }]),
      fillStyleId: props.fillStyleId ?? '',
      layoutMode: props.layoutMode ?? 'NONE',
      padding: props.padding ?? 0,
    });
    return node;
  }

  /** A component instance (its layers are the main component's: nothing can be added inside). */
  addInstance(props: { name?: string; width: number; height: number; parent?: BaseNode }): InstanceNode {
    const node = this.createNode('INSTANCE', (props.parent ?? this.page).id) as InstanceNode;
    Object.assign(this.state(node.id), { name: props.name ?? `Instance ${node.id}`, width: props.width, height: props.height });
    return node;
  }

  /** Another page (not loaded until it is current or loadAsync ran, under "dynamic-page"). */
  addPage(name: string): PageNode {
    const page = this.createNode('PAGE', this.document.id) as PageNode;
    this.state(page.id).name = name;
    if (!this.dynamicPage) this.loadedPages.add(page.id);
    return page;
  }

  /** A local paint style; returns its id. */
  addPaintStyle(name: string, paints: Paint[]): string {
    const id = `S:${this.nextId++},`;
    this.paintStyles.set(id, { name, paints: structuredClone(paints) });
    return id;
  }

  /** The user goes to `page`; resolves once "currentpagechange" and "selectionchange" listeners have run. */
  async switchPage(page: PageNode): Promise<void> {
    await this.api.setCurrentPageAsync(page);
    await this.flush();
  }

  /** The user duplicates a node (Cmd+D): a copy, plugin data included, right above it in the same parent. */
  duplicateByUser<T extends SceneNode>(node: T): T {
    const copy = (node as unknown as FrameNode).clone() as unknown as T;
    const parentId = this.state(node.id).parentId!;
    this.attach(copy.id, parentId, this.state(parentId).childIds.indexOf(node.id) + 1);
    Object.assign(this.state(copy.id), { x: this.state(node.id).x, y: this.state(node.id).y });
    this.queueChange({ type: 'CREATE', id: copy.id, origin: 'LOCAL', node: copy });
    return copy;
  }

  /** Makes the document as it is now the start of the undo history (what the user had before the plugin). */
  resetUndoHistory(): void {
    this.history.splice(0, this.history.length, this.snapshot());
    this.undoSteps = 0;
  }

  /**
   * Delivers a message from the UI as Figma does: calls onmessage and does not wait for what it
   * returns (a rejected promise is kept in `uncaught`). A handler that throws at once throws here.
   */
  post(message: unknown): void {
    if (!this.onmessage) throw new Error('The plugin has not set figma.ui.onmessage.');
    const returned = this.onmessage(structuredClone(message), { origin: 'null' });
    if (returned instanceof Promise) returned.catch((error: unknown) => this.uncaught.push(error));
  }

  /** Posts a message and lets the plugin settle; rejects with what its handler threw. */
  async send(message: unknown): Promise<void> {
    const before = this.uncaught.length;
    this.post(message);
    await this.flush();
    if (this.uncaught.length > before) throw this.uncaught[before];
  }

  /** The user selects `nodes`; resolves once selectionchange listeners have run. */
  async select(nodes: readonly SceneNode[]): Promise<void> {
    this.api.currentPage.selection = nodes;
    await this.emit('selectionchange');
  }

  /** The user resizes a node; a nodechange (and documentchange) with width/height follows asynchronously. */
  resizeByUser(node: SceneNode, width: number, height: number): void {
    (node as FrameNode).resize(width, height);
    this.queueChange({ type: 'PROPERTY_CHANGE', id: node.id, origin: 'LOCAL', node, properties: ['width', 'height'] });
  }

  /**
   * The user drags one edge of a node by `by` points (outwards when positive). Dragging the left or top
   * edge moves the node as well, as in Figma; the nodechange names x or y with width or height.
   */
  dragEdgeByUser(node: SceneNode, edge: 'left' | 'right' | 'top' | 'bottom', by: number): void {
    const frame = node as FrameNode;
    const horizontal = edge === 'left' || edge === 'right';
    frame.resize(frame.width + (horizontal ? by : 0), frame.height + (horizontal ? 0 : by));
    if (edge === 'left') frame.x -= by;
    if (edge === 'top') frame.y -= by;
    const properties: NodeChangeProperty[] = edge === 'left' ? ['x', 'width'] : edge === 'top' ? ['y', 'height'] : [horizontal ? 'width' : 'height'];
    this.queueChange({ type: 'PROPERTY_CHANGE', id: node.id, origin: 'LOCAL', node, properties });
  }

  /** The user changes a node's fills (unlinking its fill style); a nodechange follows asynchronously. */
  setFillsByUser(node: SceneNode, fills: Paint[]): void {
    (node as FrameNode).fills = fills;
    this.queueChange({ type: 'PROPERTY_CHANGE', id: node.id, origin: 'LOCAL', node, properties: ['fills', 'fillStyleId'] });
  }

  /** The user deletes a node; a nodechange (and documentchange) DELETE follows asynchronously. */
  deleteByUser(node: SceneNode): void {
    const type = node.type;
    const id = node.id;
    const pageId = this.pageIdOf(id);
    node.remove();
    this.queueChange({ type: 'DELETE', id, origin: 'LOCAL', node: { removed: true, type, id } }, pageId);
  }

  /** "nodechange" listeners on `page`. */
  pageListenerCount(page: PageNode): number {
    return this.pageListeners.get(page.id)?.size ?? 0;
  }

  /** Waits until queued document changes were delivered and their listeners settled. */
  async flush(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  }

  /** Closes the plugin as the user would (runs "close" listeners). */
  async close(): Promise<void> {
    await this.emit('close');
    this.closed = true;
  }

  messagesOf(type: string): any[] {
    return this.messages.filter((m) => m.type === type);
  }

  lastMessage(type: string): any {
    return this.messagesOf(type).at(-1);
  }

  /** Number of live nodes of this type under `root`. */
  countNodes(type: NodeKind, root: BaseNode = this.page): number {
    let n = 0;
    const walk = (id: string) => {
      for (const child of this.state(id).childIds) {
        const s = this.state(child);
        if (!s.alive) continue;
        if (s.type === type) n++;
        walk(child);
      }
    };
    walk(root.id);
    return n;
  }

  // ---- the API -------------------------------------------------------------------------------

  private buildApi(command: string): PluginAPI {
    const fake = this;
    const mixed = Symbol('figma.mixed');
    const ui = {
      postMessage(message: unknown) {
        fake.messages.push(structuredClone(message));
      },
      get onmessage() {
        return fake.onmessage;
      },
      set onmessage(handler) {
        fake.onmessage = handler;
      },
      on(type: string, handler: (message: unknown, props: OnMessageProperties) => unknown) {
        if (type === 'message') fake.onmessage = handler;
      },
      show() {},
      hide() {},
      resize() {},
      close() {},
    };
    const api = {
      apiVersion: '1.0.0',
      command,
      editorType: 'figma',
      mode: 'default',
      mixed,
      ui,
      root: this.document,
      get currentPage() {
        return fake.nodes.get(fake.currentPageId) as PageNode;
      },
      set currentPage(page: PageNode) {
        if (fake.dynamicPage) throw new Error('Cannot set figma.currentPage with "documentAccess": "dynamic-page". Use figma.setCurrentPageAsync instead.');
        fake.goToPage(page);
      },
      async setCurrentPageAsync(page: PageNode) {
        fake.goToPage(page);
      },
      viewport: { center: { x: 500, y: 300 }, zoom: 1 },
      clientStorage: {
        async getAsync(key: string) {
          return structuredClone(fake.storage.get(key));
        },
        async setAsync(key: string, value: unknown) {
          fake.storage.set(key, structuredClone(value));
        },
        async deleteAsync(key: string) {
          fake.storage.delete(key);
        },
        async keysAsync() {
          return [...fake.storage.keys()];
        },
      },
      showUI(_html: string, options?: ShowUIOptions) {
        if (fake.showUIOptions) throw new Error('showUI was called twice.');
        fake.showUIOptions = options ?? {};
      },
      notify(message: string, options?: NotificationOptions) {
        if (typeof message !== 'string') throw new TypeError('notify takes a string.');
        fake.notices.push({ message, error: options?.error === true });
        return { cancel() {} };
      },
      closePlugin() {
        fake.closed = true;
      },
      on(type: string, listener: (...args: any[]) => unknown) {
        if (type === 'documentchange' && fake.manifest.documentAccess === 'dynamic-page' && !fake.pagesLoaded) {
          throw new Error('Cannot register a "documentchange" handler with "documentAccess": "dynamic-page" before calling figma.loadAllPagesAsync().');
        }
        if (!fake.listeners.has(type)) fake.listeners.set(type, new Set());
        fake.listeners.get(type)!.add(listener);
      },
      off(type: string, listener: (...args: any[]) => unknown) {
        fake.listeners.get(type)?.delete(listener);
      },
      async loadAllPagesAsync() {
        fake.loadAllPagesCalls++;
        fake.pagesLoaded = true;
        for (const id of fake.state(fake.document.id).childIds) fake.loadedPages.add(id);
      },
      getNodeById(id: string) {
        if (fake.manifest.documentAccess === 'dynamic-page') {
          throw new Error('Cannot call getNodeById with "documentAccess": "dynamic-page". Use figma.getNodeByIdAsync instead.');
        }
        return fake.liveNode(id);
      },
      async getNodeByIdAsync(id: string) {
        return fake.liveNode(id);
      },
      createFrame() {
        const node = fake.createNode('FRAME', fake.currentPageId);
        Object.assign(fake.state(node.id), { name: 'Frame', fills: [{ type: 'SOLID', color: { r: 1, g: 1, b: 1 } }], clipsContent: true });
        return node;
      },
      createRectangle() {
        const node = fake.createNode('RECTANGLE', fake.currentPageId);
        Object.assign(fake.state(node.id), { name: 'Rectangle', fills: [{ type: 'SOLID', color: { r: 0.85, g: 0.85, b: 0.85 } }] });
        return node;
      },
      group(nodes: readonly SceneNode[], parent: BaseNode & ChildrenMixin, index?: number) {
        return fake.group(nodes, parent, index);
      },
      createImage(data: Uint8Array) {
        if (!(data instanceof Uint8Array)) throw new TypeError('createImage takes a Uint8Array.');
        const size = imageHeaderSize(data);
        if (!size) throw new Error('Image type is unsupported');
        if (size.width > MAX_IMAGE_SIDE || size.height > MAX_IMAGE_SIDE) {
          throw new Error(`Image is too large: ${size.width}×${size.height}; images can be at most ${MAX_IMAGE_SIDE} pixels in width and height.`);
        }
        const hash = createHash('sha1').update(data).digest('hex');
        fake.images.set(hash, { bytes: new Uint8Array(data), ...size });
        return fake.imageHandle(hash);
      },
      getImageByHash(hash: string) {
        return fake.images.has(hash) ? fake.imageHandle(hash) : null;
      },
      commitUndo() {
        const now = fake.snapshot();
        if (sameSnapshot(now, fake.history.at(-1)!)) return;
        fake.undoSteps++;
        fake.history.push(now);
      },
      triggerUndo() {
        fake.triggerUndo();
      },
    };
    return api as unknown as PluginAPI;
  }

  private imageHandle(hash: string): Image {
    const entry = this.images.get(hash)!;
    return {
      hash,
      getBytesAsync: async () => new Uint8Array(entry.bytes),
      getSizeAsync: async () => ({ width: entry.width, height: entry.height }),
    };
  }

  /** True when the document differs from the last committed undo state. */
  hasUncommittedChanges(): boolean {
    return !sameSnapshot(this.snapshot(), this.history.at(-1)!);
  }

  /** Reverts uncommitted changes, or else the last committed step. */
  triggerUndo(): void {
    const last = this.history.at(-1)!;
    if (sameSnapshot(this.snapshot(), last)) {
      if (this.history.length < 2) return;
      this.history.pop();
    }
    this.restore(this.history.at(-1)!);
  }

  private async emit(type: string, ...args: unknown[]): Promise<void> {
    for (const listener of this.listeners.get(type) ?? []) await listener(...args);
  }

  /** Batches a change for the "documentchange" listeners and the "nodechange" listeners of its page. */
  private queueChange(change: DocumentChange, pageId: string | null = this.pageIdOf(change.id)): void {
    this.pendingChanges.push({ change, pageId });
    if (this.documentTimer) return;
    this.documentTimer = setTimeout(() => {
      this.documentTimer = null;
      const pending = this.pendingChanges.splice(0);
      void this.emit('documentchange', { documentChanges: pending.map((p) => p.change) } satisfies DocumentChangeEvent);
      for (const [id, listeners] of this.pageListeners) {
        const nodeChanges = pending.filter((p) => p.pageId === id).map((p) => p.change as NodeChange);
        if (nodeChanges.length > 0) for (const listener of [...listeners]) void listener({ nodeChanges });
      }
    }, 0);
  }

  /** Makes `page` current; "currentpagechange" then "selectionchange" follow asynchronously. */
  private goToPage(page: PageNode): void {
    if (this.state(page.id).type !== 'PAGE') throw new Error('Only a page can be the current page.');
    this.currentPageId = page.id;
    this.loadedPages.add(page.id);
    setTimeout(() => void this.emit('currentpagechange').then(() => this.emit('selectionchange')), 0);
  }

  /** Id of the page the node is on, or null. */
  private pageIdOf(id: string): string | null {
    for (let s: NodeState | null = this.state(id); s; s = s.parentId ? this.state(s.parentId) : null) if (s.type === 'PAGE') return s.id;
    return null;
  }

  /** Under "dynamic-page", a page's children need the page loaded. */
  private checkLoaded(id: string): void {
    if (this.state(id).type === 'PAGE' && !this.loadedPages.has(id)) {
      throw new Error('Cannot access children on a page that has not been explicitly loaded. Please call `await page.loadAsync()` first.');
    }
  }

  /** Auto layout: puts the frame's AUTO children one after the other, after the padding. */
  private relayout(id: string): void {
    const frame = this.state(id);
    if (frame.type !== 'FRAME' || frame.layoutMode === 'NONE') return;
    let at = frame.padding;
    for (const childId of frame.childIds) {
      const child = this.state(childId);
      if (!child.alive || child.layoutPositioning === 'ABSOLUTE') continue;
      const box = this.box(childId);
      const [x, y] = frame.layoutMode === 'HORIZONTAL' ? [at, frame.padding] : [frame.padding, at];
      this.moveTo(childId, x, y);
      at += frame.layoutMode === 'HORIZONTAL' ? box.width : box.height;
    }
  }

  /** x, y, width, height in the parent's coordinates (a group's are its children's bounds). */
  private box(id: string): { x: number; y: number; width: number; height: number } {
    const s = this.state(id);
    return s.type === 'GROUP' ? this.groupBounds(id) : { x: s.x, y: s.y, width: s.width, height: s.height };
  }

  /** Moves a node; moving a group moves its children. */
  private moveTo(id: string, x: number, y: number): void {
    const s = this.state(id);
    if (s.type !== 'GROUP') {
      Object.assign(s, { x, y });
      return;
    }
    const bounds = this.groupBounds(id);
    for (const child of s.childIds) this.moveBy(child, x - bounds.x, y - bounds.y);
  }

  private moveBy(id: string, dx: number, dy: number): void {
    const s = this.state(id);
    if (s.type === 'GROUP') for (const child of s.childIds) this.moveBy(child, dx, dy);
    else Object.assign(s, { x: s.x + dx, y: s.y + dy });
  }

  /** A copy of the node and its children, with new ids, under `parentId`. */
  private cloneTree(id: string, parentId: string): string {
    const source = this.state(id);
    const copy = this.createNode(source.type, parentId);
    const { id: _id, parentId: _parent, childIds: _children, ...rest } = structuredClone(source);
    Object.assign(this.state(copy.id), rest);
    for (const child of source.childIds) if (this.state(child).alive) this.cloneTree(child, copy.id);
    return copy.id;
  }

  // ---- nodes ---------------------------------------------------------------------------------

  private state(id: string): NodeState {
    const s = this.states.get(id);
    if (!s) throw new Error(`No node ${id}`);
    return s;
  }

  private liveNode(id: string): BaseNode | null {
    const s = this.states.get(id);
    return s && s.alive ? this.nodes.get(id)! : null;
  }

  private createNode(type: NodeKind, parentId: string | null): BaseNode {
    const id = type === 'DOCUMENT' ? '0:0' : `${type === 'PAGE' ? 0 : 1}:${this.nextId++}`;
    const state: NodeState = {
      id,
      type,
      name: type,
      x: 0,
      y: 0,
      width: 100,
      height: 100,
      visible: true,
      locked: false,
      clipsContent: false,
      layoutMode: 'NONE',
      layoutPositioning: 'AUTO',
      padding: 0,
      fills: [],
      fillStyleId: '',
      pluginData: {},
      relaunchData: {},
      parentId,
      childIds: [],
      alive: true,
    };
    this.states.set(id, state);
    if (parentId) this.state(parentId).childIds.push(id);
    const node = this.wrap(id);
    this.nodes.set(id, node);
    return node;
  }

  private absolute(id: string): { x: number; y: number } {
    const s = this.state(id);
    let x = s.x;
    let y = s.y;
    let parent = s.parentId ? this.state(s.parentId) : null;
    while (parent && parent.type !== 'PAGE' && parent.type !== 'DOCUMENT') {
      // a group's children are positioned in the group's parent's coordinates
      if (parent.type !== 'GROUP') {
        x += parent.x;
        y += parent.y;
      }
      parent = parent.parentId ? this.state(parent.parentId) : null;
    }
    return { x, y };
  }

  private detach(id: string): void {
    const s = this.state(id);
    if (s.parentId) {
      const parent = this.state(s.parentId);
      parent.childIds = parent.childIds.filter((c) => c !== id);
    }
    s.parentId = null;
  }

  private attach(id: string, parentId: string, index?: number): void {
    const parent = this.state(parentId);
    if (!NODE_KINDS_WITH_CHILDREN.has(parent.type)) throw new Error(`A ${parent.type} cannot have children.`);
    this.checkLoaded(parentId);
    for (let p: NodeState | null = parent; p; p = p.parentId ? this.state(p.parentId) : null) {
      if (p.id === id) throw new Error('A node cannot be moved into itself.');
      if (p.type === 'INSTANCE') throw new Error('Cannot move node. New parent is an instance or is inside of an instance.');
    }
    const oldParentId = this.state(id).parentId;
    this.detach(id);
    const i = index === undefined ? parent.childIds.length : index;
    if (i < 0 || i > parent.childIds.length) throw new Error(`Index ${i} is out of range.`);
    parent.childIds.splice(i, 0, id);
    this.state(id).parentId = parentId;
    if (oldParentId && oldParentId !== parentId) this.relayout(oldParentId);
    this.relayout(parentId);
  }

  private removeTree(id: string): void {
    const s = this.state(id);
    s.alive = false;
    for (const child of s.childIds) this.removeTree(child);
  }

  private group(nodes: readonly SceneNode[], parent: BaseNode & ChildrenMixin, index?: number): GroupNode {
    if (nodes.length === 0) throw new Error('figma.group needs at least one node.');
    for (const node of nodes) {
      for (let p = this.state(node.id).parentId; p; p = this.state(p).parentId) {
        if (this.state(p).type === 'INSTANCE') throw new Error('Cannot group the children of an instance.');
      }
    }
    const parentAbs = this.state(parent.id).type === 'PAGE' ? { x: 0, y: 0 } : this.absolute(parent.id);
    const group = this.createNode('GROUP', parent.id) as GroupNode;
    this.detach(group.id);
    this.attach(group.id, parent.id, index);
    for (const node of nodes) {
      const abs = this.absolute(node.id);
      this.attach(node.id, group.id);
      Object.assign(this.state(node.id), { x: abs.x - parentAbs.x, y: abs.y - parentAbs.y });
    }
    this.state(group.id).name = 'Group';
    this.relayout(parent.id);
    return group;
  }

  private groupBounds(id: string): { x: number; y: number; width: number; height: number } {
    const children = this.state(id).childIds.map((c) => this.state(c)).filter((c) => c.alive);
    if (children.length === 0) return { x: 0, y: 0, width: 0, height: 0 };
    const x = Math.min(...children.map((c) => c.x));
    const y = Math.min(...children.map((c) => c.y));
    const right = Math.max(...children.map((c) => c.x + c.width));
    const bottom = Math.max(...children.map((c) => c.y + c.height));
    return { x, y, width: right - x, height: bottom - y };
  }

  private checkPaints(value: unknown): Paint[] {
    if (!Array.isArray(value)) throw new TypeError('fills must be an array of paints.');
    return value.map((paint: Paint) => {
      if (typeof paint !== 'object' || paint === null || typeof paint.type !== 'string') throw new TypeError('A paint must be an object with a type.');
      if (paint.type === 'IMAGE') {
        if (!['FILL', 'FIT', 'CROP', 'TILE'].includes(paint.scaleMode)) throw new Error(`Invalid scaleMode ${String(paint.scaleMode)}.`);
        if (paint.imageHash !== null && !this.images.has(paint.imageHash)) throw new Error(`No image with hash ${paint.imageHash}; create it with figma.createImage.`);
      }
      if (paint.type === 'SOLID' && (typeof paint.color !== 'object' || paint.color === null)) throw new TypeError('A SOLID paint needs a color.');
      return structuredClone(paint);
    });
  }

  private wrap(id: string): BaseNode {
    const fake = this;
    const s = () => fake.state(id);
    const node = {
      get id() {
        return id;
      },
      get type() {
        return s().type;
      },
      get removed() {
        return !s().alive;
      },
      get name() {
        return s().name;
      },
      set name(v: string) {
        s().name = String(v);
      },
      get parent() {
        const p = s().parentId;
        return p ? fake.nodes.get(p)! : null;
      },
      get children() {
        fake.checkLoaded(id);
        return Object.freeze(s().childIds.filter((c) => fake.state(c).alive).map((c) => fake.nodes.get(c)!));
      },
      get x() {
        return fake.box(id).x;
      },
      set x(v: number) {
        fake.moveTo(id, v, fake.box(id).y);
      },
      get y() {
        return fake.box(id).y;
      },
      set y(v: number) {
        fake.moveTo(id, fake.box(id).x, v);
      },
      get width() {
        return s().type === 'GROUP' ? fake.groupBounds(id).width : s().width;
      },
      get height() {
        return s().type === 'GROUP' ? fake.groupBounds(id).height : s().height;
      },
      get absoluteTransform(): Transform {
        const a = fake.absolute(id);
        return [
          [1, 0, a.x],
          [0, 1, a.y],
        ];
      },
      resize(width: number, height: number) {
        if (s().type === 'GROUP') throw new Error('The fake does not resize groups.');
        if (!(width >= 0.01 && height >= 0.01)) throw new Error(`resize needs a width and height of at least 0.01 (got ${width}×${height}).`);
        Object.assign(s(), { width, height });
      },
      get visible() {
        return s().visible;
      },
      set visible(v: boolean) {
        s().visible = v;
      },
      get locked() {
        return s().locked;
      },
      set locked(v: boolean) {
        s().locked = v;
      },
      get clipsContent() {
        return s().clipsContent;
      },
      set clipsContent(v: boolean) {
        s().clipsContent = v;
      },
      get layoutMode() {
        return s().layoutMode;
      },
      set layoutMode(v: NodeState['layoutMode']) {
        s().layoutMode = v;
      },
      get layoutPositioning() {
        return s().layoutPositioning;
      },
      set layoutPositioning(v: NodeState['layoutPositioning']) {
        const parent = s().parentId ? fake.state(s().parentId!) : null;
        if (v === 'ABSOLUTE' && (!parent || parent.type !== 'FRAME' || parent.layoutMode === 'NONE')) {
          throw new Error('Can only set layoutPositioning = "ABSOLUTE" if the parent node has layoutMode !== "NONE".');
        }
        s().layoutPositioning = v;
        if (parent) fake.relayout(parent.id);
      },
      get paddingLeft() {
        return s().padding;
      },
      get paddingTop() {
        return s().padding;
      },
      get fills() {
        return Object.freeze(s().fills.map((p) => Object.freeze(structuredClone(p))));
      },
      set fills(v: ReadonlyArray<Paint>) {
        if (s().type === 'GROUP' || s().type === 'PAGE' || s().type === 'DOCUMENT') throw new Error(`A ${s().type} has no fills.`);
        s().fills = fake.checkPaints(v);
        // paints set directly replace the style's
        s().fillStyleId = '';
      },
      get fillStyleId() {
        return s().fillStyleId;
      },
      set fillStyleId(v: string) {
        if (fake.dynamicPage) throw new Error('Cannot set fillStyleId with "documentAccess": "dynamic-page". Use setFillStyleIdAsync instead.');
        fake.linkFillStyle(id, v);
      },
      async setFillStyleIdAsync(v: string) {
        fake.linkFillStyle(id, v);
      },
      get selection(): any {
        if (s().type !== 'PAGE') return undefined;
        return Object.freeze((fake.selections.get(id) ?? []).filter((sid) => fake.state(sid).alive).map((sid) => fake.nodes.get(sid)!));
      },
      set selection(nodes: readonly SceneNode[]) {
        if (s().type !== 'PAGE') throw new Error('Only pages have a selection.');
        for (const n of nodes) {
          if (n.removed) throw new Error('Cannot select a removed node.');
          let p: BaseNode | null = n.parent;
          while (p && p.type !== 'PAGE') p = p.parent;
          if (p?.id !== id) throw new Error('Selected nodes must be on this page.');
        }
        fake.selections.set(id, nodes.map((n) => n.id));
      },
      async loadAsync() {
        if (s().type !== 'PAGE') throw new Error('Only pages are loaded.');
        fake.loadedPages.add(id);
      },
      on(type: string, listener: (event: NodeChangeEvent) => unknown) {
        if (s().type !== 'PAGE' || type !== 'nodechange') throw new Error(`Pages emit "nodechange" only (got "${type}").`);
        if (!fake.pageListeners.has(id)) fake.pageListeners.set(id, new Set());
        fake.pageListeners.get(id)!.add(listener);
      },
      off(type: string, listener: (event: NodeChangeEvent) => unknown) {
        if (type === 'nodechange') fake.pageListeners.get(id)?.delete(listener);
      },
      clone() {
        if (s().type === 'PAGE' || s().type === 'DOCUMENT') throw new Error(`The fake does not clone a ${s().type}.`);
        return fake.nodes.get(fake.cloneTree(id, fake.currentPageId))!;
      },
      appendChild(child: SceneNode) {
        fake.attach(child.id, id);
      },
      insertChild(index: number, child: SceneNode) {
        fake.attach(child.id, id, index);
      },
      remove() {
        if (s().type === 'PAGE' || s().type === 'DOCUMENT') throw new Error(`Cannot remove a ${s().type}.`);
        const parentId = s().parentId;
        fake.removeTree(id);
        // a group without children deletes itself
        if (parentId && fake.state(parentId).type === 'GROUP' && fake.state(parentId).childIds.every((c) => !fake.state(c).alive)) fake.removeTree(parentId);
      },
      findAllWithCriteria(criteria: { types?: NodeType[]; pluginData?: { keys?: string[] } }) {
        fake.checkLoaded(id);
        const out: BaseNode[] = [];
        const walk = (nid: string) => {
          for (const child of fake.state(nid).childIds) {
            const c = fake.state(child);
            if (!c.alive) continue;
            const typeOk = !criteria.types || criteria.types.includes(c.type as NodeType);
            const keys = criteria.pluginData?.keys;
            const dataOk = !criteria.pluginData || (keys ? keys.some((k) => (c.pluginData[k] ?? '') !== '') : Object.keys(c.pluginData).length > 0);
            if (typeOk && dataOk) out.push(fake.nodes.get(child)!);
            walk(child);
          }
        };
        walk(id);
        return out;
      },
      getPluginData(key: string) {
        return s().pluginData[key] ?? '';
      },
      getPluginDataKeys() {
        return Object.keys(s().pluginData);
      },
      setPluginData(key: string, value: string) {
        if (typeof key !== 'string' || typeof value !== 'string') throw new TypeError('setPluginData takes a string key and a string value.');
        // "The total size of your entry (pluginId, key, value) cannot exceed 100 kB."
        const bytes = Buffer.byteLength(PLUGIN_ID + key + value, 'utf8');
        if (bytes > PLUGIN_DATA_LIMIT) throw new Error(`A plugin data entry cannot exceed 100 kB (this one would be ${bytes} bytes).`);
        const next = { ...s().pluginData };
        if (value === '') delete next[key];
        else next[key] = value;
        s().pluginData = next;
      },
      setRelaunchData(data: { [command: string]: string }) {
        const commands = new Set((fake.manifest.relaunchButtons ?? []).map((b) => b.command));
        for (const [key, description] of Object.entries(data)) {
          if (!/^[A-Za-z0-9]+$/.test(key)) throw new Error(`Relaunch data key "${key}" must be alphanumeric.`);
          if (!commands.has(key)) throw new Error(`Relaunch command "${key}" is not in the manifest's relaunchButtons.`);
          if (typeof description !== 'string') throw new TypeError('Relaunch descriptions must be strings.');
          if (description.length > RELAUNCH_DESCRIPTION_LIMIT) throw new Error(`Relaunch description is longer than ${RELAUNCH_DESCRIPTION_LIMIT} characters.`);
        }
        s().relaunchData = { ...data };
      },
      getRelaunchData() {
        return { ...s().relaunchData };
      },
      toString() {
        return `[Node ${id}]`;
      },
    };
    return new Proxy(node, {
      get(target, prop, receiver) {
        if (prop === 'removed' || prop === 'then' || typeof prop === 'symbol') return Reflect.get(target, prop, receiver);
        if (!fake.state(id).alive) throw new Error(`The node with id "${id}" does not exist (it was removed).`);
        return Reflect.get(target, prop, receiver);
      },
      set(target, prop, value, receiver) {
        if (!fake.state(id).alive) throw new Error(`The node with id "${id}" does not exist (it was removed).`);
        const descriptor = Object.getOwnPropertyDescriptor(target, prop);
        if (!descriptor?.set) throw new TypeError(`Cannot assign to read only property '${String(prop)}' of node ${id}.`);
        return Reflect.set(target, prop, value, receiver);
      },
    }) as unknown as BaseNode;
  }

  /** Links the node's fills to a paint style ('' unlinks, keeping the paints). */
  private linkFillStyle(id: string, styleId: string): void {
    const s = this.state(id);
    if (styleId === '') {
      s.fillStyleId = '';
      return;
    }
    const style = this.paintStyles.get(styleId);
    if (!style) throw new Error(`No paint style with id ${styleId}.`);
    Object.assign(s, { fills: structuredClone(style.paints), fillStyleId: styleId });
  }

  private snapshot(): Snapshot {
    return new Map([...this.states].map(([id, s]) => [id, structuredClone(s)]));
  }

  private restore(snapshot: Snapshot): void {
    for (const [id, s] of this.states) {
      const saved = snapshot.get(id);
      if (saved) Object.assign(s, structuredClone(saved));
      else s.alive = false;
    }
  }
}

function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  if (a.size !== b.size) {
    // nodes created since b count as a change only while they are alive
    for (const [id, s] of a) if (!b.has(id) && s.alive) return false;
  }
  for (const [id, s] of b) {
    const other = a.get(id);
    if (!other || JSON.stringify(other) !== JSON.stringify(s)) return false;
  }
  return true;
}
