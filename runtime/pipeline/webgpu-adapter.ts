/**
 * Which WebGPU adapter this machine offers, asked of Dawn itself. onnxruntime-node's WebGPU EP does
 * not say which adapter it took, so a child process asks the `webgpu` package (Dawn's own Node
 * binding, shipped prebuilt in the npm package) with the same preference ORT uses
 * (high-performance). Dawn ranks adapters the same way in both, so a hardware adapter here is the
 * one ORT gets. A child process keeps a second Dawn out of the companion and a broken driver from
 * crashing it; the answer is cached for the life of the process.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';

import { WebGpuAdapterSchema, type WebGpuAdapter } from '../contract/health.ts';

export type { WebGpuAdapter };

/** What the probe found: an adapter, or why there is none. */
export type WebGpuProbe = { adapter: WebGpuAdapter } | { adapter: null; reason: string };

const ProbeOutput = z.union([
  WebGpuAdapterSchema.omit({ software: true }).extend({ fallback: z.boolean() }),
  z.object({ none: z.string() }),
]);

/** Software implementations that some drivers do not flag as fallback adapters. */
const SOFTWARE_NAMES = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

const PROBE_TIMEOUT_MS = 15_000;

/** Runs in the child: prints one JSON line and exits (Dawn's threads would keep it alive). */
const probeScript = (moduleUrl: string) => `
const { create } = await import(${JSON.stringify(moduleUrl)});
let out;
try {
  const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
  out = adapter
    ? { vendor: adapter.info.vendor, architecture: adapter.info.architecture, device: adapter.info.device, description: adapter.info.description,
        fallback: Boolean(adapter.info.isFallbackAdapter ?? adapter.isFallbackAdapter), shaderF16: adapter.features.has('shader-f16'),
        maxBufferBytes: Math.min(adapter.limits.maxBufferSize, adapter.limits.maxStorageBufferBindingSize) }
    : { none: 'no WebGPU adapter (no Vulkan, D3D12 or Metal driver that Dawn accepts)' };
} catch (error) {
  out = { none: 'WebGPU adapter query failed: ' + (error && error.message ? error.message : String(error)) };
}
process.stdout.write(JSON.stringify(out) + '\\n', () => process.exit(0));
`;

/** Turns the child's JSON into a probe result; pure, for tests. */
export function parseProbeOutput(stdout: string): WebGpuProbe {
  const line = stdout.trim().split('\n').pop() ?? '';
  let parsed: z.infer<typeof ProbeOutput>;
  try {
    parsed = ProbeOutput.parse(JSON.parse(line));
  } catch {
    return { adapter: null, reason: `WebGPU adapter query gave no answer${line ? ` (${line.slice(0, 200)})` : ''}` };
  }
  if ('none' in parsed) return { adapter: null, reason: parsed.none };
  const { fallback, ...info } = parsed;
  const software = fallback || SOFTWARE_NAMES.test(`${info.architecture} ${info.device} ${info.description}`);
  return { adapter: { ...info, software } };
}

let cached: Promise<WebGpuProbe> | null = null;

/** The adapter Dawn picks on this machine (asked once per process). */
export function probeWebGpuAdapter(): Promise<WebGpuProbe> {
  cached ??= runProbe();
  return cached;
}

function runProbe(): Promise<WebGpuProbe> {
  let moduleUrl: string;
  try {
    moduleUrl = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch {
    return Promise.resolve({ adapter: null, reason: 'the webgpu package is not installed' });
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '--eval', probeScript(moduleUrl)],
      { timeout: PROBE_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 1 << 20 },
      (error, stdout) => {
        const result = parseProbeOutput(stdout);
        if (result.adapter || !error) return resolve(result);
        resolve({ adapter: null, reason: `WebGPU adapter query failed: ${error.killed ? `no answer within ${PROBE_TIMEOUT_MS / 1000} s` : error.message.split('\n')[0]}` });
      },
    );
  });
}

/** "NVIDIA ampere (NVIDIA GeForce RTX 3080), hardware" */
export function describeAdapter(adapter: WebGpuAdapter): string {
  const name = [adapter.vendor, adapter.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const detail = adapter.description || adapter.device;
  return `${name}${detail ? ` (${detail})` : ''}, ${adapter.software ? 'software' : 'hardware'}`;
}
