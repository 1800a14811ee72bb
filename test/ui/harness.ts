/**
 * Runs the built dist/ui.html in headless Chromium the way Figma does: inside a sandboxed iframe
 * (opaque origin, so the companion sees `Origin: null`), talking to its parent with
 * `parent.postMessage({ pluginMessage }, '*')`. The parent page relays messages to Node, where
 * `FakeMain` plays the plugin's main thread. `startDemoCompanion` runs a real companion with the demo
 * model on the loopbacks, port 0, reached as localhost. The page comes from a `HarnessServer` on
 * 127.0.0.1, a private origin unless Chromium is told it is public (Local Network Access).
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type FrameLocator, type Page } from 'playwright-core';
import type { FrameInfo, ImageResult, JobRequest, Limits, MainToUi, SelectionState, Settings, UiToMain } from '../../runtime/contract/index.ts';
import { DEFAULT_LIMITS, DEFAULT_SETTINGS, frameJobBody, targetPixelSize } from '../../plugin/defaults.ts';
import { ensureDemoBundle } from '../../runtime/demo/cache.ts';
import { PipelineWorker } from '../../runtime/pipeline/index.ts';
import { createCompanion, formatPairingCode, type Companion } from '../../runtime/server/index.ts';
import { buildFigma } from '../../scripts/build.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const TOKEN = 'ui-test-token-0123456789abcdef';
export const UI_WIDTH = 380;
export const UI_HEIGHT = 640;

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export interface DemoCompanion {
  companion: Companion;
  url: string;
  /** As the CLI prints it, e.g. "7G3Q-K9ZD". */
  pairingCode: string;
  /** The companion's data folder (jobs/, images/, uploads/). */
  dataDir: string;
  close(): Promise<void>;
}

/** The version the companion reports: package.json's, as the CLI does. */
export const PACKAGE_VERSION = (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A real companion around the demo pipeline, in a temporary data folder. */
export async function startDemoCompanion(version = PACKAGE_VERSION): Promise<DemoCompanion> {
  return startBundleCompanion((dir) => ensureDemoBundle(join(dir, 'bundle')), version);
}

/** A real companion around the pipeline of the bundle `bundleIn` gives (made in the temporary folder it is passed), in a temporary data folder. */
export async function startBundleCompanion(bundleIn: (dir: string) => Promise<string>, version = PACKAGE_VERSION): Promise<DemoCompanion> {
  const dir = await mkdtemp(join(tmpdir(), 'dype-ui-'));
  // in its worker thread, as `dype serve` runs it: on this thread a big step would also stall Playwright
  const engine = await PipelineWorker.start(await bundleIn(dir), { device: 'cpu', previewIntervalMs: 0 });
  const dataDir = join(dir, 'data');
  const companion = await createCompanion({ engine, dataDir, token: TOKEN, port: 0, version, previewIntervalMs: 0 });
  const url = await companion.listen();
  return {
    companion,
    url,
    dataDir,
    pairingCode: formatPairingCode(companion.pairingCode),
    async close() {
      await companion.close();
      await engine.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Builds the Figma side into a temporary folder and returns dist/ui.html's text. */
export async function buildUi(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'dype-ui-build-'));
  try {
    const { uiHtml } = await buildFigma(`${out}/`);
    return await readFile(uiHtml, 'utf8');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** A port nothing listens on, on either loopback: `preferred` when it is free, else any free one. */
export async function closedPort(preferred = 0): Promise<number> {
  const free = (port: number, host: string) =>
    new Promise<number | null>((resolve) => {
      const server = createNetServer().once('error', () => resolve(null));
      server.listen(port, host, () => {
        const bound = (server.address() as AddressInfo).port;
        server.close(() => resolve(bound));
      });
    });
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await free(attempt === 0 ? preferred : 0, '127.0.0.1');
    if (port !== null && (await free(port, '::1')) !== null) return port;
  }
  throw new Error('no free port');
}

/** Serves harness pages from http://127.0.0.1:<port>, a real origin (Chromium can be told it is public). */
export interface HarnessServer {
  origin: string;
  port: number;
  /** Serves `html` at a new path and returns its URL. */
  serve(html: string): string;
  close(): Promise<void>;
}

export async function startHarnessServer(): Promise<HarnessServer> {
  const pages = new Map<string, string>();
  const server = createServer((req, res) => {
    const page = pages.get(req.url ?? '');
    res.writeHead(page === undefined ? 404 : 200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page ?? 'no such page');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // the shared one below is never closed: it must not keep a test process alive
  server.unref();
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    port,
    serve(html) {
      const path = `/page-${pages.size + 1}`;
      pages.set(path, html);
      return origin + path;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Where openUi serves its pages unless told otherwise. */
let sharedServer: Promise<HarnessServer> | undefined;

/** Messages from the UI carry Uint8Array; they cross into Node as { __bytes: base64 }. */
function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.__bytes === 'string') return new Uint8Array(Buffer.from(record.__bytes, 'base64'));
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

const attribute = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

/** `uiHtml` with `csp` as a <meta> Content-Security-Policy, first in <head> so that it covers every inline script and style. */
function withCsp(uiHtml: string, csp: string): string {
  if (!/<head>/i.test(uiHtml)) throw new Error('ui.html has no <head> for the Content-Security-Policy');
  return uiHtml.replace(/<head>/i, `<head><meta http-equiv="Content-Security-Policy" content="${attribute(csp)}">`);
}

/** The permission a public page needs to reach this computer, under its current and its former name. */
const LOOPBACK_ALLOW = 'loopback-network; local-network-access';

const HARNESS = (uiHtml: string, allow: string | null) => `<!doctype html>
<html><head><meta charset="utf-8"><style>html,body{margin:0;background:#888}iframe{border:0;display:block;width:${UI_WIDTH}px;height:${UI_HEIGHT}px}</style></head>
<body><iframe id="ui" title="DyPE plugin UI" sandbox="allow-scripts"${allow === null ? '' : ` allow="${attribute(allow)}"`} srcdoc="${attribute(uiHtml)}"></iframe>
<script>
  const frame = document.getElementById('ui');
  const pack = (v) => {
    if (v instanceof Uint8Array) { let s = ''; for (let i = 0; i < v.length; i += 0x8000) s += String.fromCharCode.apply(null, v.subarray(i, i + 0x8000)); return { __bytes: btoa(s) }; }
    if (Array.isArray(v)) return v.map(pack);
    if (v && typeof v === 'object') { const o = {}; for (const k of Object.keys(v)) o[k] = pack(v[k]); return o; }
    return v;
  };
  window.addEventListener('message', (e) => {
    if (e.source !== frame.contentWindow) return;
    window.toMain(pack(e.data && e.data.pluginMessage));
  });
  window.toUi = (message) => frame.contentWindow.postMessage({ pluginMessage: message }, '*');
</script></body></html>`;

/** A selected frame, in points; `picture`: the image it shows (what Refine and Extend start from). */
export interface FakeFrame {
  id: string;
  name: string;
  width: number;
  height: number;
  picture?: ImageResult;
}

export interface FakeMainOptions {
  settings?: Partial<Settings>;
  /** The selected frames; targets are computed with the density and `limits` as plugin/ does. */
  frames?: FakeFrame[];
  /** Default: the plugin's DEFAULT_LIMITS (what it uses before the UI reports the companion's). */
  limits?: Limits;
  /**
   * Companion origins the UI may reach besides the manifest's (the test companions listen on other
   * ports); sent with the settings as `testOrigins`. Default: the origin of `settings.companionUrl`.
   */
  testOrigins?: string[];
}

/**
 * Plays the plugin main thread: answers "ready" with settings and the selection, turns "generate"
 * into "start-jobs" for the selected frames (Refine: the frame's picture × the upscale, with the
 * picture to upload), and answers "job-result" with "job-applied".
 */
export class FakeMain {
  readonly received: UiToMain[] = [];
  settings: Settings;
  frames: NonNullable<FakeMainOptions['frames']>;
  readonly testOrigins: string[];
  readonly limits: Limits;
  /** When each message in `received` arrived (Date.now()). */
  readonly receivedAt: number[] = [];
  private waiters: Array<() => void> = [];
  private nextJob = 1;
  private readonly page: Page;

  constructor(page: Page, options: FakeMainOptions) {
    this.page = page;
    this.settings = { ...DEFAULT_SETTINGS, ...options.settings };
    this.frames = options.frames ?? [];
    this.testOrigins = options.testOrigins ?? [new URL(this.settings.companionUrl).origin];
    this.limits = options.limits ?? DEFAULT_LIMITS;
  }

  selection(): SelectionState {
    const d = this.settings.density;
    const info = ({ picture, ...f }: FakeFrame): FrameInfo => ({
      ...f,
      target: targetPixelSize(f.width, f.height, d, this.limits),
      generation: null,
      outdated: null,
      image: picture ? { width: picture.width, height: picture.height } : null,
      proposed: null,
    });
    return {
      frames: this.frames.map(info),
      newFrame: this.frames.length === 0 ? { width: 1024, height: 1024, target: targetPixelSize(1024, 1024, d, this.limits) } : null,
      skipped: 0,
    };
  }

  async send(message: MainToUi): Promise<void> {
    await this.page.evaluate((m) => (globalThis as unknown as { toUi(m: unknown): void }).toUi(m), message as unknown as Record<string, unknown>);
  }

  /** Jobs the last "generate" started, as sent to the UI. */
  started: JobRequest[] = [];

  async receive(message: UiToMain): Promise<void> {
    this.received.push(message);
    this.receivedAt.push(Date.now());
    for (const wake of this.waiters.splice(0)) wake();
    switch (message.type) {
      case 'ready':
        await this.send({ type: 'settings', settings: this.settings, testOrigins: this.testOrigins });
        await this.send({ type: 'selection', selection: this.selection() });
        await this.send({ type: 'outdated', frames: [] });
        break;
      case 'save-settings':
        this.settings = { ...this.settings, ...message.patch };
        if (message.patch.density) await this.send({ type: 'selection', selection: this.selection() });
        break;
      case 'generate': {
        const targets = this.selection().frames;
        this.started = targets.map((f) => {
          const jobId = `ui-test-${Date.now().toString(36)}-${this.nextJob++}`;
          const picture = message.action === 'refine' ? this.frames.find((frame) => frame.id === f.id)?.picture : undefined;
          const size = picture ? targetPixelSize(picture.width, picture.height, { kind: 'scale', scale: message.upscale }, this.limits) : f.target;
          const init = picture ? { init: { image: picture, crop: null, keep: null, strength: message.strength } } : {};
          return { jobId, nodeId: f.id, frameName: f.name, body: frameJobBody(jobId, message.params, size), ...init };
        });
        await this.send({ type: 'start-jobs', jobs: this.started });
        break;
      }
      case 'job-result':
        await this.send({ type: 'job-applied', jobId: message.jobId, placement: 'frame', frameName: this.started.find((j) => j.jobId === message.jobId)?.frameName ?? 'Frame' });
        break;
      default:
        break;
    }
  }

  /** Resolves with the first received message of `type` matching `predicate` (past or future). */
  async waitFor<K extends UiToMain['type']>(type: K, predicate: (m: Extract<UiToMain, { type: K }>) => boolean = () => true, timeoutMs = 20_000): Promise<Extract<UiToMain, { type: K }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.find((m): m is Extract<UiToMain, { type: K }> => m.type === type && predicate(m as Extract<UiToMain, { type: K }>));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${type}" message from the UI; got ${this.received.map((m) => m.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.min(left, 200));
      });
    }
  }

  count(type: UiToMain['type']): number {
    return this.received.filter((m) => m.type === type).length;
  }
}

export interface UiPage {
  page: Page;
  main: FakeMain;
  /** The UI inside the sandboxed iframe, for locators. */
  ui: FrameLocator;
  frame: Frame;
  errors: string[];
  /** Saves a screenshot of the plugin window under `dir`. */
  shot(dir: string, name: string): Promise<string>;
  /** Slows the UI's uploads to `bytesPerSecond` (so that upload progress shows); resolves with the function that lifts it. */
  throttleUploads(bytesPerSecond: number): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface OpenUiOptions extends FakeMainOptions {
  dark?: boolean;
  prepare?: (page: Page) => Promise<unknown>;
  /** A Content-Security-Policy for the UI document, as Figma adds one from manifest.json. */
  csp?: string;
  /**
   * The iframe's `allow` attribute. Default: it delegates Local Network Access, as a host that lets
   * plugins reach this computer would; null leaves the attribute out.
   */
  allow?: string | null;
  /** The browser's user agent, e.g. Figma's desktop app's. */
  userAgent?: string;
  /** Serve the harness page from this server instead of the shared one. */
  servedFrom?: HarnessServer;
}

/** Opens the UI in a new page with a FakeMain behind it, and waits until it has rendered its settings. */
export async function openUi(browser: Browser, uiHtml: string, options: OpenUiOptions = {}): Promise<UiPage> {
  const page = await browser.newPage({ viewport: { width: UI_WIDTH, height: UI_HEIGHT }, userAgent: options.userAgent });
  // e.g. routes that change the companion's answers, in place before the UI's first request
  await options.prepare?.(page);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(m.text())) errors.push(m.text());
  });
  const main = new FakeMain(page, options);
  await page.exposeFunction('toMain', (message: unknown) => main.receive(revive(message) as UiToMain));
  const harness = HARNESS(options.csp === undefined ? uiHtml : withCsp(uiHtml, options.csp), options.allow === undefined ? LOOPBACK_ALLOW : options.allow);
  const server = options.servedFrom ?? (await (sharedServer ??= startHarnessServer()));
  await page.goto(server.serve(harness));
  const frame = page.frames().find((f) => f !== page.mainFrame());
  if (!frame) throw new Error('the UI iframe did not load');
  // what Figma's themeColors does: a figma-light / figma-dark class on <html>
  await frame.evaluate(`document.documentElement.classList.add('${options.dark ? 'figma-dark' : 'figma-light'}')`);
  const ui = page.frameLocator('#ui');
  await ui.getByRole('heading', { name: 'Generate' }).waitFor();
  return {
    page,
    main,
    ui,
    frame,
    errors,
    async shot(dir: string, name: string) {
      await mkdir(dir, { recursive: true });
      const path = join(dir, `${name}.png`);
      await page.locator('#ui').screenshot({ path });
      return path;
    },
    async throttleUploads(bytesPerSecond: number) {
      // the sandboxed iframe runs in its own renderer process (out of process), so the throttle goes on its own target
      const cdp = await page.context().newCDPSession(frame);
      await cdp.send('Network.enable');
      const set = (uploadThroughput: number) => cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
      await set(bytesPerSecond);
      return async () => {
        await set(-1);
      };
    },
    close: () => page.close(),
  };
}
