/** Starts plugin/main.ts against a FakeFigma and plays the UI's side of the message protocol. */
import sharp from 'sharp';
import { vi } from 'vitest';
import type { GenerationParams, ImageResult, JobRequest, ResultMeta } from '../../runtime/contract/index.ts';
import { tileRects } from '../../ui/tile-rects.ts';
import { FakeFigma, type FakeFigmaOptions } from './fake-figma.ts';

export interface Started {
  fake: FakeFigma;
  figma: PluginAPI;
}

/** Installs a fresh fake, lets `setup` draw the document, loads main.ts and sends "ready". */
export async function startPlugin(options: FakeFigmaOptions & { setup?: (fake: FakeFigma) => void | Promise<void> } = {}): Promise<Started> {
  const fake = new FakeFigma(options).install();
  await options.setup?.(fake);
  fake.resetUndoHistory();
  vi.resetModules();
  await import('../../plugin/main.ts');
  await fake.flush();
  await fake.send({ type: 'ready' });
  return { fake, figma: fake.api };
}

export const PARAMS: GenerationParams = {
  prompt: 'a lighthouse at dawn',
  method: 'dy-yarn',
  steps: 8,
  guidance: null,
  dypeScale: null,
  dypeExponent: null,
  seed: 1234,
  format: 'png',
  density: { kind: 'scale', scale: 2 },
};

/** Sends "generate" and returns the jobs the plugin asked the UI to start. */
export async function generate(fake: FakeFigma, params: Partial<GenerationParams> = {}): Promise<JobRequest[]> {
  const before = fake.messagesOf('start-jobs').length;
  await fake.send({ type: 'generate', params: { ...PARAMS, ...params } });
  const started = fake.messagesOf('start-jobs').slice(before);
  return started.flatMap((m) => m.jobs as JobRequest[]);
}

const pngCache = new Map<string, Uint8Array>();

/** A solid-colour PNG of this size (cached). */
export async function png(width: number, height: number, shade = 128): Promise<Uint8Array> {
  const key = `${width}x${height}x${shade}`;
  let bytes = pngCache.get(key);
  if (!bytes) {
    const buffer = await sharp({ create: { width, height, channels: 3, background: { r: shade, g: 255 - shade, b: 90 } } }).png({ compressionLevel: 1 }).toBuffer();
    bytes = new Uint8Array(buffer);
    pngCache.set(key, bytes);
  }
  return bytes;
}

/** The image the companion would return for `job`, tiled like the UI tiles it. */
export async function resultImage(width: number, height: number, shade = 128): Promise<ImageResult> {
  const tiles = await Promise.all(tileRects(width, height).map(async (t) => ({ ...t, bytes: await png(t.width, t.height, shade) })));
  return { width, height, tiles };
}

export function metaFor(job: JobRequest): ResultMeta {
  return {
    jobId: job.jobId,
    prompt: job.body.prompt,
    seed: job.body.seed,
    steps: job.body.steps ?? 8,
    guidance: job.body.guidance ?? 3.5,
    dypeScale: job.body.dypeScale ?? null,
    dypeExponent: job.body.dypeExponent ?? null,
    method: job.body.method,
    format: job.body.format,
    model: 'dype-demo',
  };
}

/** Plays a finished job: one preview, then the result at the requested size. */
export async function finishJob(fake: FakeFigma, job: JobRequest, options: { preview?: boolean; shade?: number; image?: ImageResult } = {}): Promise<void> {
  if (options.preview ?? true) await fake.send({ type: 'job-preview', jobId: job.jobId, png: await png(16, 12, 30) });
  const image = options.image ?? (await resultImage(job.body.width, job.body.height, options.shade));
  await fake.send({ type: 'job-result', jobId: job.jobId, meta: metaFor(job), image });
}

export function imageFills(node: FrameNode | RectangleNode): ImagePaint[] {
  return (node.fills as readonly Paint[]).filter((p): p is ImagePaint => p.type === 'IMAGE');
}
