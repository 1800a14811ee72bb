/**
 * The one module that imports onnxruntime-node. It maps device names to execution providers,
 * creates sessions, checks and converts feeds to each input's element type, runs, and formats
 * failures. Everything else sees our own typed arrays.
 */
import { Float16Array } from '@petamoriken/float16';
import * as ort from 'onnxruntime-node';
import { DEVICES, type Device } from './types.ts';

// Failures surface as exceptions with the same text; ORT's native logger would print them a
// second time (e.g. every probe of a provider that is not installed under --device auto).
ort.env.logLevel = 'fatal';

/**
 * Plain data the pipeline passes in and gets back. Outputs are always float32 or int64; the other
 * types appear only on feeds that {@link Session.prepare} converted once ahead of a loop.
 */
export type TensorData =
  | { type: 'float32'; data: Float32Array; dims: readonly number[] }
  | { type: 'float16'; data: Uint16Array; dims: readonly number[] }
  | { type: 'float64'; data: Float64Array; dims: readonly number[] }
  | { type: 'int64'; data: BigInt64Array; dims: readonly number[] }
  | { type: 'int32'; data: Int32Array; dims: readonly number[] };

/** Element types a feed can be converted to: whatever the graph declares among these. */
export const FEED_TYPES = ['float32', 'float16', 'float64', 'int64', 'int32'] as const;

export interface InputInfo {
  name: string;
  /** ORT element type: 'float32', 'float16', 'int64', … */
  type: string;
  shape: readonly (number | string)[];
}

export class OrtError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OrtError';
  }
}

const PLATFORM_PROVIDERS: Record<string, readonly Exclude<Device, 'auto'>[]> = {
  win32: ['dml', 'cuda', 'cpu'],
  darwin: ['coreml', 'cpu'],
  linux: ['cuda', 'cpu'],
};

/** Providers `auto` tries, in order, on this platform. */
export function autoProviders(platform: string = process.platform): readonly Exclude<Device, 'auto'>[] {
  return PLATFORM_PROVIDERS[platform] ?? ['cpu'];
}

export function checkDevice(device: string): Device {
  if (!(DEVICES as readonly string[]).includes(device)) {
    throw new OrtError(`unknown device "${device}": supported devices are ${DEVICES.join(', ')}`);
  }
  return device as Device;
}

/** Execution providers of this onnxruntime-node build; `bundled: false` ones need a separate install. */
export function availableProviders(): { name: string; bundled: boolean }[] {
  const listed = (ort as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }).listSupportedBackends?.();
  return listed ?? [{ name: 'cpu', bundled: true }];
}

export class Session {
  readonly inputs: readonly InputInfo[];
  readonly outputNames: readonly string[];
  /** Wall time spent inside ORT `run` calls, for measuring the pipeline's own overhead. */
  runMs = 0;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly path: string,
    readonly provider: string,
  ) {
    this.inputs = session.inputMetadata.map((m) =>
      m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: 'non-tensor', shape: [] },
    );
    this.outputNames = session.outputNames;
  }

  has(input: string): boolean {
    return this.inputs.some((i) => i.name === input);
  }

  input(name: string): InputInfo {
    const info = this.inputs.find((i) => i.name === name);
    if (!info) throw new OrtError(`${this.path}: the graph has no input "${name}" (inputs: ${this.inputs.map((i) => i.name).join(', ')})`);
    return info;
  }

  /**
   * Converts a feed to the input's element type now, so a feed that stays the same for every
   * denoising step (text embeddings, ids) is converted once rather than per run.
   */
  prepare(name: string, feed: TensorData): TensorData {
    return feedAs(this.input(name), feed);
  }

  /** Runs with every graph input fed; each feed is converted to the element type its input declares. */
  async run(feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    const missing = this.inputs.filter((i) => !(i.name in feeds)).map((i) => i.name);
    if (missing.length) throw new OrtError(`${this.path}: missing inputs ${missing.join(', ')}`);
    const extra = Object.keys(feeds).filter((name) => !this.has(name));
    if (extra.length) throw new OrtError(`${this.path}: the graph has no input(s) ${extra.join(', ')}`);

    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const info of this.inputs) {
      const feed = feedAs(info, feeds[info.name]);
      ortFeeds[info.name] = new ort.Tensor(feed.type, feed.data, [...feed.dims]);
    }
    let results: ort.InferenceSession.ReturnType;
    const start = performance.now();
    try {
      results = await this.session.run(ortFeeds);
      this.runMs += performance.now() - start;
    } catch (error) {
      const described = Object.entries(ortFeeds)
        .map(([name, t]) => `${name}: ${t.type}[${t.dims.join(',')}]`)
        .join('; ');
      throw new OrtError(`${this.path} failed on ${this.provider}: ${(error as Error).message} (inputs: ${described})`, { cause: error });
    }
    const out: Record<string, TensorData> = {};
    for (const [name, tensor] of Object.entries(results)) out[name] = fromOrtTensor(name, tensor);
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** A feed's values as numbers (float16 bits decoded). */
function feedValues(feed: TensorData): ArrayLike<number> {
  if (feed.type === 'float16') return float16ToFloat32(feed.data);
  if (feed.type === 'int64') return Float64Array.from(feed.data, Number);
  return feed.data;
}

/**
 * The one place that decides a feed's element type: the one its input declares. Position ids come
 * as float32 and go to int64/int32 inputs unchanged in value (optimum's exports take int64 ids);
 * a fractional value there is refused rather than rounded.
 */
export function feedAs(info: InputInfo, feed: TensorData): TensorData {
  if (feed.type === info.type) return feed;
  const dims = feed.dims;
  const values = feedValues(feed);
  const integers = () => {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isInteger(values[i])) throw new OrtError(`input ${info.name} takes ${info.type}, but value ${values[i]} at index ${i} is not an integer`);
    }
  };
  switch (info.type) {
    case 'float32':
      return { type: 'float32', data: values instanceof Float32Array ? values : Float32Array.from(values), dims };
    case 'float16':
      // The polyfill's constructor has a fast path for typed arrays (Float16Array.from does not).
      return { type: 'float16', data: new Uint16Array(new Float16Array(values instanceof Float32Array ? values : Float32Array.from(values)).buffer), dims };
    case 'float64':
      return { type: 'float64', data: Float64Array.from(values), dims };
    case 'int64':
      integers();
      return { type: 'int64', data: BigInt64Array.from(Array.from(values), BigInt), dims };
    case 'int32':
      integers();
      return { type: 'int32', data: Int32Array.from(values), dims };
    default:
      throw new OrtError(`input ${info.name} has element type ${info.type}; the pipeline can feed ${FEED_TYPES.join(', ')}`);
  }
}

/** float16 bits → float32; iterating the polyfill is ~6× faster than Float32Array.from on it. */
function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  let i = 0;
  for (const v of new Float16Array(bits.buffer, bits.byteOffset, bits.length)) out[i++] = v;
  return out;
}

function fromOrtTensor(name: string, tensor: ort.Tensor): TensorData {
  const dims = tensor.dims;
  switch (tensor.type) {
    case 'float32':
      return { type: 'float32', data: tensor.data as Float32Array, dims };
    case 'float16':
      return { type: 'float32', data: float16ToFloat32(tensor.data as Uint16Array), dims };
    case 'float64':
      return { type: 'float32', data: Float32Array.from(tensor.data as Float64Array), dims };
    case 'int64':
      return { type: 'int64', data: tensor.data as BigInt64Array, dims };
    default:
      throw new OrtError(`output ${name} has unsupported element type ${tensor.type}`);
  }
}

async function createWith(path: string, provider: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
}

/**
 * Creates a session on `device`. `auto` tries this platform's providers in order, logging why each
 * one that fails was skipped (onnxruntime-node throws rather than falling back by itself).
 */
export async function createSession(path: string, device: Device = 'auto', log: (line: string) => void = () => {}): Promise<Session> {
  checkDevice(device);
  const candidates = device === 'auto' ? autoProviders() : [device];
  const failures: string[] = [];
  for (const provider of candidates) {
    try {
      return new Session(await createWith(path, provider), path, provider);
    } catch (error) {
      const reason = (error as Error).message.split('\n')[0];
      failures.push(`${provider}: ${reason}`);
      if (device === 'auto' && provider !== candidates[candidates.length - 1]) log(`${provider} unavailable (${reason}); trying ${candidates[candidates.indexOf(provider) + 1]}`);
    }
  }
  throw new OrtError(`could not load ${path}: ${failures.join('; ')}`);
}
