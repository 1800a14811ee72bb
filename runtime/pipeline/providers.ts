/**
 * Device names, the providers `auto` tries on each platform, and when WebGPU may be used, as a pure decision over what the adapter probe found. `auto` wants a
 * real GPU: a software adapter (SwiftShader, lavapipe, WARP) runs the demo model ~100× slower than
 * the CPU provider, so it is only used when asked for by name.
 */
import { describeAdapter, type WebGpuAdapter, type WebGpuProbe } from './webgpu-adapter.ts';

import type { SkippedProvider } from '../contract/health.ts';

export type { SkippedProvider };

export const DEVICES = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

// WebGPU comes after the vendor providers and only with a hardware adapter (see webgpuRefusal).
const PLATFORM_PROVIDERS: Record<string, readonly Exclude<Device, 'auto'>[]> = {
  win32: ['dml', 'cuda', 'webgpu', 'cpu'],
  darwin: ['coreml', 'webgpu', 'cpu'],
  linux: ['cuda', 'webgpu', 'cpu'],
};

/** Providers `auto` tries, in order, on this platform. */
export function autoProviders(platform: string = process.platform): readonly Exclude<Device, 'auto'>[] {
  return PLATFORM_PROVIDERS[platform] ?? ['cpu'];
}

/** How a session's provider was chosen: what was skipped and why, and the WebGPU adapter if asked. */
export interface ProviderSelection {
  skipped: SkippedProvider[];
  adapter: WebGpuAdapter | null;
}

/** Why WebGPU must not be used here, or null when it may. */
export function webgpuRefusal(probe: WebGpuProbe, opts: { auto: boolean; float16: boolean }): string | null {
  const { adapter } = probe;
  // Asked for by name, ORT gets its own try: its error says more than the probe's.
  if (!adapter) return opts.auto ? probe.reason : null;
  if (opts.auto && adapter.software) return `only a software adapter: ${describeAdapter(adapter)}; it is slower than cpu`;
  if (opts.float16 && !adapter.shaderF16) return `the adapter (${describeAdapter(adapter)}) lacks shader-f16, which this model's float16 inputs need; use a float32 bundle or another device`;
  return null;
}
