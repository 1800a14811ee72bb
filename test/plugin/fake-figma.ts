/**
 * A scripted fake of the `figma` global: the plugin's outside boundary. It is typed against
 * @figma/plugin-typings (`api` is a PluginAPI) and enforces the documented behaviour the plugin relies on:
 *
 * - `createImage` accepts PNG, JPEG and GIF only, reading the size from the header (PNG IHDR, JPEG SOF,
 *   GIF screen descriptor), and throws above 4096 px per side or on anything else;
 * - `setPluginData` takes strings and throws when the plugin's data on a node passes 100 kB;
 * - `setRelaunchData` keys must be alphanumeric and name a `relaunchButtons` command of manifest.json,
 *   descriptions at most 1000 characters, and each call replaces the previous data;
 * - `"documentAccess": "dynamic-page"`: `getNodeById` throws, `getNodeByIdAsync` resolves, and
 *   `documentchange` can only be listened to after `loadAllPagesAsync`;
 * - `fills` are frozen (replace the array, never mutate it), `width`/`height` are read-only (use resize),
 *   IMAGE paints must name an image made by createImage;
 * - a removed node reports `removed === true` and throws on any other property access;
 * - `commitUndo` closes an undo step and `triggerUndo` reverts to the last committed state;
 * - selection and document changes reach listeners asynchronously, as in Figma.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const MAX_IMAGE_SIDE = 4096;
export const PLUGIN_DATA_LIMIT = 100_000;
export const RELAUNCH_DESCRIPTION_LIMIT = 1000;
const PLUGIN_ID = 'dype-fill-dev';

type NodeKind = 'DOCUMENT' | 'PAGE' | 'FRAME' | 'RECTANGLE' | 'GROUP';

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
  fills: Paint[];
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

const NODE_KINDS_WITH_CHILDREN = new Set<NodeKind>(['DOCUMENT', 'PAGE', 'FRAME', 'GROUP']);

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

  private readonly states = new Map<string, NodeState>();
  private readonly nodes = new Map<string, BaseNode>();
  private readonly listeners = new Map<string, Set<(...args: any[]) => unknown>>();
  private readonly history: Snapshot[] = [];
  private readonly manifest: Manifest;
  private selectionIds: string[] = [];
  private pagesLoaded = false;
  private nextId = 1;
  private onmessage: ((message: unknown, props: OnMessageProperties) => unknown) | undefined;
  private pendingChanges: DocumentChange[] = [];
  private documentTimer: ReturnType<typeof setTimeout> | null = null;
  readonly document: DocumentNode;
  readonly page: PageNode;

  constructor(options: FakeFigmaOptions = {}) {
    this.manifest = options.manifest ?? (JSON.parse(readFileSync(new URL('../../manifest.json', import.meta.url), 'utf8')) as Manifest);
    this.document = this.createNode('DOCUMENT', null) as DocumentNode;
    this.page = this.createNode('PAGE', this.state(this.document.id).id) as PageNode;
    this.state(this.page.id).name = 'Page 1';
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

  /** A frame as a user would draw it (not through the plugin), on the page or inside `parent`. */
  addFrame(props: { name?: string; width: number; height: number; x?: number; y?: number; fills?: Paint[]; parent?: BaseNode; layoutMode?: 'NONE' | 'HORIZONTAL' | 'VERTICAL' }): FrameNode {
    const parent = props.parent ?? this.page;
    const node = this.createNode('FRAME', parent.id) as FrameNode;
    const s = this.state(node.id);
    Object.assign(s, {
      name: props.name ?? `Frame ${node.id}`,
      width: props.width,
      height: props.height,
      x: props.x ?? 0,
      y: props.y ?? 0,
      fills: props.fills ?? [{ type: 'SOLID', color: { r: 1, g: 1, b: 1 } }],
      layoutMode: props.layoutMode ?? 'NONE',
    });
    return node;
  }

  /** Makes the document as it is now the start of the undo history (what the user had before the plugin). */
  resetUndoHistory(): void {
    this.history.splice(0, this.history.length, this.snapshot());
    this.undoSteps = 0;
  }

  /** Sends a message from the UI to the plugin and waits for its handler. */
  async send(message: unknown): Promise<void> {
    if (!this.onmessage) throw new Error('The plugin has not set figma.ui.onmessage.');
    await this.onmessage(structuredClone(message), { origin: 'null' });
  }

  /** The user selects `nodes`; resolves once selectionchange listeners have run. */
  async select(nodes: readonly SceneNode[]): Promise<void> {
    this.api.currentPage.selection = nodes;
    await this.emit('selectionchange');
  }

  /** The user resizes a node; a documentchange with width/height follows asynchronously. */
  resizeByUser(node: SceneNode, width: number, height: number): void {
    (node as FrameNode).resize(width, height);
    this.queueChange({ type: 'PROPERTY_CHANGE', id: node.id, origin: 'LOCAL', node, properties: ['width', 'height'] });
  }

  /** The user deletes a node; a documentchange DELETE follows asynchronously. */
  deleteByUser(node: SceneNode): void {
    const type = node.type;
    const id = node.id;
    node.remove();
    this.queueChange({ type: 'DELETE', id, origin: 'LOCAL', node: { removed: true, type, id } });
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
        return fake.page;
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
        fake.pagesLoaded = true;
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
        const node = fake.createNode('FRAME', fake.page.id);
        Object.assign(fake.state(node.id), { name: 'Frame', fills: [{ type: 'SOLID', color: { r: 1, g: 1, b: 1 } }], clipsContent: true });
        return node;
      },
      createRectangle() {
        const node = fake.createNode('RECTANGLE', fake.page.id);
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

  private queueChange(change: DocumentChange): void {
    this.pendingChanges.push(change);
    if (this.documentTimer) return;
    this.documentTimer = setTimeout(() => {
      this.documentTimer = null;
      const documentChanges = this.pendingChanges.splice(0);
      void this.emit('documentchange', { documentChanges } satisfies DocumentChangeEvent);
    }, 0);
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
      fills: [],
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
    for (let p: NodeState | null = parent; p; p = p.parentId ? this.state(p.parentId) : null) {
      if (p.id === id) throw new Error('A node cannot be moved into itself.');
    }
    this.detach(id);
    const i = index === undefined ? parent.childIds.length : index;
    if (i < 0 || i > parent.childIds.length) throw new Error(`Index ${i} is out of range.`);
    parent.childIds.splice(i, 0, id);
    this.state(id).parentId = parentId;
  }

  private removeTree(id: string): void {
    const s = this.state(id);
    s.alive = false;
    for (const child of s.childIds) this.removeTree(child);
  }

  private group(nodes: readonly SceneNode[], parent: BaseNode & ChildrenMixin, index?: number): GroupNode {
    if (nodes.length === 0) throw new Error('figma.group needs at least one node.');
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
        return Object.freeze(s().childIds.filter((c) => fake.state(c).alive).map((c) => fake.nodes.get(c)!));
      },
      get x() {
        return s().type === 'GROUP' ? fake.groupBounds(id).x : s().x;
      },
      set x(v: number) {
        s().x = v;
      },
      get y() {
        return s().type === 'GROUP' ? fake.groupBounds(id).y : s().y;
      },
      set y(v: number) {
        s().y = v;
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
      },
      get fills() {
        return Object.freeze(s().fills.map((p) => Object.freeze(structuredClone(p))));
      },
      set fills(v: ReadonlyArray<Paint>) {
        if (s().type === 'GROUP' || s().type === 'PAGE' || s().type === 'DOCUMENT') throw new Error(`A ${s().type} has no fills.`);
        s().fills = fake.checkPaints(v);
      },
      get selection(): any {
        if (s().type !== 'PAGE') return undefined;
        return Object.freeze(fake.selectionIds.filter((sid) => fake.state(sid).alive).map((sid) => fake.nodes.get(sid)!));
      },
      set selection(nodes: readonly SceneNode[]) {
        if (s().type !== 'PAGE') throw new Error('Only pages have a selection.');
        for (const n of nodes) {
          if (n.removed) throw new Error('Cannot select a removed node.');
          let p: BaseNode | null = n.parent;
          while (p && p.type !== 'PAGE') p = p.parent;
          if (p?.id !== id) throw new Error('Selected nodes must be on this page.');
        }
        fake.selectionIds = nodes.map((n) => n.id);
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
        const next = { ...s().pluginData };
        if (value === '') delete next[key];
        else next[key] = value;
        const bytes = Object.entries(next).reduce((sum, [k, v]) => sum + Buffer.byteLength(PLUGIN_ID + k + v, 'utf8'), 0);
        if (bytes > PLUGIN_DATA_LIMIT) throw new Error(`Plugin data on a node cannot exceed 100 kB (this would be ${bytes} bytes).`);
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
