/**
 * The latents of one generation and how each transformer call moves them. On the host (CPU and
 * the other providers) the Euler step runs in JS. On WebGPU the latents stay in GPU memory: the
 * transformer's velocity goes into a two-op step graph on the same device (euler-graph.ts), whose
 * hidden_states output is the next step's feed. They come back to the host only after the last
 * step and on steps that want a preview. Only the small per-step feeds (σ, DyPE positions) and the
 * fixed feeds are uploaded each step.
 */
import { eulerStepGraph, type FloatType } from './euler-graph.ts';
import { createGraphSession, DeviceTensor, type Feed, type Session, type TensorData } from './ort.ts';
import { interleaveTokens } from './fill.ts';
import { estimateX0 } from './preview.ts';

/** Flow-matching Euler step x ← x + (σ_next − σ)·v. */
export function eulerStep(x: Float32Array, v: Float32Array, sigma: number, sigmaNext: number): Float32Array {
  const dt = sigmaNext - sigma;
  for (let i = 0; i < x.length; i++) x[i] += dt * v[i];
  return x;
}

export interface StepOptions {
  /** The last step: the latents come back to the host. */
  last: boolean;
}

/** What a step leaves for a listener until the next step: x0 on demand, since it costs a read-back on the device. */
export interface SteppedLatents {
  /** x0 = x − σ·v, computed as x_next − σ_next·v (the same point) only when asked. */
  x0(): Promise<Float32Array>;
  /** hidden_states as fed, when it was built for the step (FLUX Fill's conditioned input); plain latents have moved on. */
  fed?: TensorData;
}

export interface Denoiser extends Disposable {
  /**
   * Runs the transformer on the current latents with `feeds` (all other inputs) and steps them σ → σ_next.
   * Returns the on-demand x0, valid until the next step; none after the last step.
   */
  step(feeds: Record<string, TensorData>, sigma: number, sigmaNext: number, opts: StepOptions): Promise<SteppedLatents | null>;
  /** The latents on the host, after the last step. */
  latents(): Float32Array;
}

const scalar = (v: number): TensorData => ({ type: 'float32', data: Float32Array.of(v), dims: [1] });

/** What a generation adds to the plain loop; either keeps the latents on the host (read-back per step on a GPU). */
export interface HostSteps {
  /** FLUX Fill: per-token channels (masked image, mask) fed beside the latents in hidden_states. */
  condition?: Float32Array;
  /** Runs after each Euler step on the new latents, in place (Extend's blend toward the init). */
  afterStep?: (x: Float32Array, sigmaNext: number) => void;
}

class HostDenoiser implements Denoiser {
  constructor(
    private readonly transformer: Session,
    private readonly x: Float32Array,
    private readonly dims: readonly number[],
    private readonly extra: HostSteps = {},
    /** Set when the transformer's outputs stay on the device: the step graph brings the latents back. */
    private readonly steppers: DeviceSteppers | null = null,
  ) {}

  async step(feeds: Record<string, TensorData>, sigma: number, sigmaNext: number, opts: StepOptions): Promise<SteppedLatents | null> {
    const hidden = this.hidden();
    const x0 = this.steppers ? await this.stepThroughDevice(this.steppers, { ...feeds, hidden_states: hidden }, sigma, sigmaNext) : await this.stepOnHost({ ...feeds, hidden_states: hidden }, sigma, sigmaNext);
    this.extra.afterStep?.(this.x, sigmaNext);
    if (opts.last) return null;
    return hidden.data === this.x ? { x0 } : { x0, fed: hidden };
  }

  private async stepOnHost(feeds: Record<string, TensorData>, sigma: number, sigmaNext: number): Promise<() => Promise<Float32Array>> {
    const out = await this.transformer.run(feeds);
    const velocity = out[this.transformer.outputNames[0]].data as Float32Array;
    eulerStep(this.x, velocity, sigma, sigmaNext);
    // computed when asked, during the listener's callback, from the latents the next step starts from
    return () => Promise.resolve(estimateX0(this.x, velocity, sigmaNext));
  }

  /** The last step's velocity on the device (outputs on the device), kept for an x0 asked for before the next step. */
  private velocity: DeviceTensor | null = null;
  /** x0 read-backs in flight. */
  private readonly reads: Promise<unknown>[] = [];

  /**
   * The velocity stays on the device; the to-host step graph brings back the new latents only, and
   * x0 only when a listener asks (from the velocity, kept until the next step).
   */
  private async stepThroughDevice(steppers: DeviceSteppers, feeds: Record<string, TensorData>, sigma: number, sigmaNext: number): Promise<() => Promise<Float32Array>> {
    await this.releaseVelocity();
    const out = await this.transformer.runOnDevice(feeds);
    const [velocityName, ...others] = this.transformer.outputNames;
    for (const name of others) out[name].dispose();
    const velocity = out[velocityName];
    try {
      const r = await steppers.toHost.run({ latents: { type: 'float32', data: this.x, dims: this.dims }, velocity, dt: scalar(sigmaNext - sigma), sigma: scalar(sigma) }, ['latents_next']);
      this.x.set(r.latents_next.data as Float32Array);
    } catch (error) {
      velocity.dispose();
      throw error;
    }
    this.velocity = velocity;
    // asked during the listener's callback: the latents the next step starts from, as on the host
    // (the next step waits for this read before it changes them)
    return () => {
      const read = steppers.toHost
        .run({ latents: { type: 'float32', data: this.x, dims: this.dims }, velocity, dt: scalar(0), sigma: scalar(sigmaNext) }, ['x0'])
        .then((back) => back.x0.data as Float32Array);
      this.reads.push(read);
      return read;
    };
  }

  /** Frees the kept velocity once the x0 read-backs that use it are done. */
  private async releaseVelocity(): Promise<void> {
    await Promise.allSettled(this.reads.splice(0));
    this.velocity?.dispose();
    this.velocity = null;
  }

  /** FLUX Fill's hidden_states, rewritten in place each step. */
  private conditioned: Float32Array | null = null;

  private hidden(): TensorData {
    const { condition } = this.extra;
    if (!condition) return { type: 'float32', data: this.x, dims: this.dims };
    const [batch, tokens, features] = this.dims;
    this.conditioned = interleaveTokens(this.x, condition, tokens, this.conditioned ?? undefined);
    return { type: 'float32', data: this.conditioned, dims: [batch, tokens, features + condition.length / tokens] };
  }

  latents(): Float32Array {
    return this.x;
  }

  [Symbol.dispose](): void {
    void this.releaseVelocity();
  }
}

/** The two step graphs for one transformer, created once per pipeline (each keeps its compiled shaders). */
export interface DeviceSteppers {
  /** Outputs stay on the device: latents_next, hidden_states. */
  onDevice: Session;
  /** Outputs come back: latents_next, x0. */
  toHost: Session;
}

export async function createDeviceSteppers(transformer: Session): Promise<DeviceSteppers> {
  const velocityType = transformer.outputTypes[transformer.outputNames[0]];
  if (velocityType !== 'float32' && velocityType !== 'float16') throw new Error(`${transformer.path}: velocity is ${velocityType}; float32 or float16 expected`);
  const create = (onDevice: boolean) =>
    createGraphSession(eulerStepGraph(velocityType as FloatType, onDevice), `<euler step ${onDevice ? 'on device' : 'to host'}>`, transformer.provider, { outputsOnDevice: onDevice });
  const [onDevice, toHost] = await Promise.all([create(true), create(false)]);
  return { onDevice, toHost };
}

class DeviceDenoiser implements Denoiser {
  /** float32 latents, and the transformer's hidden_states feed made from them. */
  private x: Feed;
  private hidden: Feed;
  /** The last step's velocity, for an x0 asked for before the next step. */
  private velocity: DeviceTensor | null = null;
  /** x0 read-backs in flight. */
  private readonly reads: Promise<unknown>[] = [];

  constructor(
    private readonly transformer: Session,
    private readonly steppers: DeviceSteppers,
    x: Float32Array,
    dims: readonly number[],
  ) {
    this.x = this.hidden = { type: 'float32', data: x, dims };
  }

  async step(feeds: Record<string, TensorData>, sigma: number, sigmaNext: number, opts: StepOptions): Promise<SteppedLatents | null> {
    // an x0 read-back still running uses the last latents and velocity: let it finish before they go
    await this.settleReads();
    this.velocity?.dispose();
    this.velocity = null;
    const out = await this.transformer.runOnDevice({ ...feeds, hidden_states: this.hidden });
    const [velocityName, ...others] = this.transformer.outputNames;
    for (const name of others) out[name].dispose();
    const velocity = out[velocityName];
    const dt = scalar(sigmaNext - sigma);
    if (opts.last) {
      try {
        const r = await this.steppers.toHost.run({ latents: this.x, velocity, dt, sigma: scalar(sigma) }, ['latents_next']);
        this.replace(r.latents_next, r.latents_next);
      } finally {
        velocity.dispose();
      }
      return null;
    }
    let r: Record<string, DeviceTensor>;
    try {
      r = await this.steppers.onDevice.runOnDevice({ latents: this.x, velocity, dt });
    } catch (error) {
      velocity.dispose();
      throw error;
    }
    this.replace(r.latents_next, r.hidden_states ?? r.latents_next);
    // kept until the next step, so that a listener can still ask for x0 (one read-back, only then)
    this.velocity = velocity;
    const x = this.x;
    return {
      x0: () => {
        const read = this.steppers.toHost.run({ latents: x, velocity, dt: scalar(0), sigma: scalar(sigmaNext) }, ['x0']).then((back) => back.x0.data as Float32Array);
        this.reads.push(read);
        return read;
      },
    };
  }

  private async settleReads(): Promise<void> {
    const reads = this.reads.splice(0);
    await Promise.allSettled(reads);
  }

  private replace(x: Feed, hidden: Feed): void {
    for (const t of new Set([this.x, this.hidden])) if (t instanceof DeviceTensor) t.dispose();
    this.x = x;
    this.hidden = hidden;
  }

  latents(): Float32Array {
    if (this.x instanceof DeviceTensor) throw new Error('the latents are still on the device: the last step reads them back');
    return this.x.data as Float32Array;
  }

  /** Frees what is still on the device (a generation that stopped early, or the last velocity), once reads are done. */
  [Symbol.dispose](): void {
    const held = [this.velocity, ...new Set([this.x, this.hidden])].filter((t): t is DeviceTensor => t instanceof DeviceTensor);
    this.velocity = null;
    const free = () => held.forEach((t) => t.dispose());
    if (this.reads.length === 0) free();
    else void this.settleReads().then(free);
  }
}

/**
 * The denoiser for a transformer session: on the device when steppers exist for it and the run needs
 * nothing done to the latents between steps; else on the host.
 */
export function createDenoiser(transformer: Session, steppers: DeviceSteppers | null, x: Float32Array, dims: readonly number[], extra: HostSteps = {}): Denoiser {
  const onHost = extra.condition !== undefined || extra.afterStep !== undefined;
  if (steppers && !onHost) return new DeviceDenoiser(transformer, steppers, x, dims);
  return new HostDenoiser(transformer, x, dims, extra, transformer.outputsOnDevice ? steppers : null);
}
