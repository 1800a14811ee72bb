/**
 * The one module that imports onnxruntime-node. It maps device names to execution providers,
 * creates sessions, checks and converts feeds to each input's element type, runs, and formats
 * failures. Everything else sees our own typed arrays.
 */
import { Float16Array } from '@petamoriken/float16';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder.ts';
import { autoProviders, DEVICES, type Device, type ProviderSelection, webgpuRefusal } from './providers.ts';
import { probeWebGpuAdapter, type WebGpuProbe } from './webgpu-adapter.ts';

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

/**
 * A tensor that a run left in the provider's memory (WebGPU), fed to later runs as it is. Whoever
 * holds one disposes it when done: GPU memory is not garbage-collected. It is read back by feeding
 * it to a session whose outputs come to the host: onnxruntime-node 1.30 crashes the process when
 * asked to download it itself (Tensor.getData).
 */
export class DeviceTensor {
  constructor(readonly tensor: ort.Tensor) {}

  get type(): string {
    return this.tensor.type;
  }

  get dims(): readonly number[] {
    return this.tensor.dims;
  }

  dispose(): void {
    this.tensor.dispose();
  }
}

/** What a run can be fed: our own arrays, or tensors already on the device. */
export type Feed = TensorData | DeviceTensor;

export class Session {
  readonly inputs: readonly InputInfo[];
  readonly outputNames: readonly string[];
  /** ORT element type of each output, by name. */
  readonly outputTypes: Readonly<Record<string, string>>;
  /** Wall time spent inside ORT `run` calls, for measuring the pipeline's own overhead. */
  runMs = 0;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly path: string,
    readonly provider: string,
    /** Providers tried before this one and why each was skipped; the WebGPU adapter if probed. */
    readonly selection: ProviderSelection = { skipped: [], adapter: null },
    /** Outputs stay in GPU memory (WebGPU): read them with `runOnDevice`, not `run`. */
    readonly outputsOnDevice = false,
  ) {
    this.inputs = session.inputMetadata.map((m) =>
      m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: 'non-tensor', shape: [] },
    );
    this.outputNames = session.outputNames;
    this.outputTypes = Object.fromEntries(session.outputMetadata.map((m) => [m.name, m.isTensor ? m.type : 'non-tensor']));
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

  /**
   * Runs with every graph input fed; each feed is converted to the element type its input declares.
   * `outputs` names the outputs to compute and bring back (default: all of them).
   */
  async run(feeds: Record<string, Feed>, outputs?: readonly string[]): Promise<Record<string, TensorData>> {
    if (this.outputsOnDevice) throw new OrtError(`${this.path}: outputs stay on the device; use runOnDevice`);
    const out: Record<string, TensorData> = {};
    for (const [name, tensor] of Object.entries(await this.runOrt(feeds, outputs))) out[name] = fromOrtTensor(name, tensor);
    return out;
  }

  /** Like `run`, for a session whose outputs stay on the device; the caller disposes them. */
  async runOnDevice(feeds: Record<string, Feed>): Promise<Record<string, DeviceTensor>> {
    if (!this.outputsOnDevice) throw new OrtError(`${this.path}: outputs come back to the host; use run`);
    const out: Record<string, DeviceTensor> = {};
    for (const [name, tensor] of Object.entries(await this.runOrt(feeds))) out[name] = new DeviceTensor(tensor);
    return out;
  }

  private async runOrt(feeds: Record<string, Feed>, outputs?: readonly string[]): Promise<ort.InferenceSession.ReturnType> {
    const missing = this.inputs.filter((i) => !(i.name in feeds)).map((i) => i.name);
    if (missing.length) throw new OrtError(`${this.path}: missing inputs ${missing.join(', ')}`);
    const extra = Object.keys(feeds).filter((name) => !this.has(name));
    if (extra.length) throw new OrtError(`${this.path}: the graph has no input(s) ${extra.join(', ')}`);
    const unknown = (outputs ?? []).filter((name) => !this.outputNames.includes(name));
    if (unknown.length) throw new OrtError(`${this.path}: the graph has no output(s) ${unknown.join(', ')} (outputs: ${this.outputNames.join(', ')})`);

    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const info of this.inputs) ortFeeds[info.name] = toOrtTensor(info, feeds[info.name]);
    const start = performance.now();
    try {
      const results = await (outputs ? this.session.run(ortFeeds, [...outputs]) : this.session.run(ortFeeds));
      this.runMs += performance.now() - start;
      return results;
    } catch (error) {
      const described = Object.entries(ortFeeds)
        .map(([name, t]) => `${name}: ${t.type}[${t.dims.join(',')}]${t.location === 'cpu' ? '' : ` on ${t.location}`}`)
        .join('; ');
      throw new OrtError(`${this.path} failed on ${this.provider}: ${(error as Error).message} (inputs: ${described})`, { cause: error });
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function toOrtTensor(info: InputInfo, feed: Feed): ort.Tensor {
  if (feed instanceof DeviceTensor) {
    if (feed.type !== info.type) throw new OrtError(`input ${info.name} expects ${info.type}, got ${feed.type} on the device`);
    return feed.tensor;
  }
  const converted = feedAs(info, feed);
  return new ort.Tensor(converted.type, converted.data, [...converted.dims]);
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

async function createWith(model: string | Uint8Array, provider: string, outputsOnDevice: boolean): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = { executionProviders: [provider], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
  if (outputsOnDevice) options.preferredOutputLocation = 'gpu-buffer';
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

/**
 * Keep a session's outputs on the device: always, never, or only on a hardware adapter (a software
 * adapter's "GPU memory" is host memory, and the extra step graph measured slower there).
 */
type OutputsOnDevice = boolean | 'on-hardware';

/** Whether a provider can keep tensors on the device between runs. */
function keepsTensorsOnDevice(provider: string): boolean {
  return provider === 'webgpu';
}

/** A session for a small graph built in code (`label` names it in errors), on a known provider. */
export async function createGraphSession(model: Uint8Array, label: string, provider: string, opts: { outputsOnDevice?: boolean } = {}): Promise<Session> {
  const onDevice = (opts.outputsOnDevice ?? false) && keepsTensorsOnDevice(provider);
  try {
    return new Session(await createWith(model, provider, onDevice), label, provider, undefined, onDevice);
  } catch (error) {
    throw new OrtError(`could not create ${label} on ${provider}: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
}

/**
 * Creates a session on `device`. `auto` tries this platform's providers in order, logging why each
 * one that fails was skipped (onnxruntime-node throws rather than falling back by itself). WebGPU
 * is asked about its adapter first: `auto` skips a software one, and any float16 graph is refused
 * on an adapter without shader-f16 (it would fail at the first run, not at load).
 */
export async function createSession(
  path: string,
  device: Device = 'auto',
  log: (line: string) => void = () => {},
  opts: { outputsOnDevice?: OutputsOnDevice } = {},
): Promise<Session> {
  return createOnFirstProvider(path, path, device, log, opts);
}

/** A one-node graph: creating a session for it proves a provider loads, at no memory cost. */
const PROVIDER_PROBE_MODEL = (() => {
  const g = new GraphBuilder('provider_probe');
  g.input('x', 'float32', [1]);
  g.op('Identity', ['x'], {}, { outputs: ['y'] });
  g.output('y', 'float32', [1]);
  return g.serialize().model;
})();

/**
 * The provider `device` resolves to on this machine, without loading a model: `auto` tries the
 * platform's providers as `createSession` does, on a one-node graph. The memory plan needs the
 * provider before the first model is loaded.
 */
export async function resolveProvider(device: Device = 'auto', log: (line: string) => void = () => {}): Promise<{ provider: Exclude<Device, 'auto'>; selection: ProviderSelection }> {
  const session = await createOnFirstProvider(PROVIDER_PROBE_MODEL, 'the provider probe', device, log, {});
  await session.release();
  return { provider: session.provider as Exclude<Device, 'auto'>, selection: session.selection };
}

async function createOnFirstProvider(
  model: string | Uint8Array,
  label: string,
  device: Device,
  log: (line: string) => void,
  opts: { outputsOnDevice?: OutputsOnDevice },
): Promise<Session> {
  checkDevice(device);
  const auto = device === 'auto';
  const candidates = auto ? autoProviders() : [device];
  const selection: ProviderSelection = { skipped: [], adapter: null };
  for (const [index, provider] of candidates.entries()) {
    try {
      const probe = provider === 'webgpu' ? await probeWebGpuAdapter() : null;
      if (probe) selection.adapter = probe.adapter;
      refuseWebGpu(probe, auto, false);
      const wanted = opts.outputsOnDevice ?? false;
      const onDevice = keepsTensorsOnDevice(provider) && (wanted === true || (wanted === 'on-hardware' && probe?.adapter?.software === false));
      const session = new Session(await createWith(model, provider, onDevice), label, provider, selection, onDevice);
      try {
        refuseWebGpu(probe, auto, session.inputs.some((i) => i.type === 'float16'));
      } catch (error) {
        await session.release();
        throw error;
      }
      return session;
    } catch (error) {
      const reason = (error as Error).message.split('\n')[0];
      selection.skipped.push({ provider, reason });
      if (auto && index < candidates.length - 1) log(`${provider} unavailable (${reason}); trying ${candidates[index + 1]}`);
    }
  }
  throw new OrtError(`could not load ${label}: ${selection.skipped.map((s) => `${s.provider}: ${s.reason}`).join('; ')}`);
}

function refuseWebGpu(probe: WebGpuProbe | null, auto: boolean, float16: boolean): void {
  const refusal = probe && webgpuRefusal(probe, { auto, float16 });
  if (refusal) throw new OrtError(refusal);
}
