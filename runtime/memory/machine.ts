/**
 * What memory this machine has, for the planner: RAM from the OS; GPU memory from --gpu-memory, else
 * nvidia-smi where it is installed, else unknown (WebGPU tells no total, only its largest buffer);
 * Apple silicon shares RAM between CPU and GPU.
 */
import { execFile } from 'node:child_process';
import { totalmem } from 'node:os';
import type { MachineMemory } from './plan.ts';

const NVIDIA_SMI_TIMEOUT_MS = 5_000;

/** memory.total of the first GPU in `nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits` (MiB), in bytes. */
export function parseNvidiaSmi(stdout: string): number | null {
  const first = stdout.trim().split('\n')[0]?.trim() ?? '';
  const mib = Number(first);
  return first !== '' && Number.isFinite(mib) && mib > 0 ? mib * 2 ** 20 : null;
}

function queryNvidiaSmi(): Promise<number | null> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { timeout: NVIDIA_SMI_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout) =>
      resolve(error ? null : parseNvidiaSmi(stdout)),
    );
  });
}

/** Whether CPU and GPU share one memory: Apple silicon (CoreML, WebGPU on Metal). */
export function unifiedMemory(platform: string = process.platform, arch: string = process.arch): boolean {
  return platform === 'darwin' && arch === 'arm64';
}

/**
 * The machine's memory for `provider`. `gpuMemoryGB` (the --gpu-memory setting) wins over what is
 * found; `maxBufferBytes` is the WebGPU adapter's largest buffer when the provider is WebGPU.
 */
export async function machineMemory(provider: string, opts: { gpuMemoryGB?: number; maxBufferBytes?: number; ramBytes?: number } = {}): Promise<MachineMemory> {
  const ramBytes = opts.ramBytes ?? totalmem();
  const unified = provider !== 'cpu' && unifiedMemory();
  const base = { ramBytes, unified, ...(provider === 'webgpu' && opts.maxBufferBytes !== undefined ? { maxBufferBytes: opts.maxBufferBytes } : {}) };
  if (opts.gpuMemoryGB !== undefined) return { ...base, gpuBytes: opts.gpuMemoryGB * 1e9, gpuSource: '--gpu-memory' };
  if (provider === 'cpu' || unified) return { ...base, gpuBytes: null, gpuSource: unified ? 'unified memory' : 'not used' };
  const smi = await queryNvidiaSmi();
  if (smi !== null) return { ...base, gpuBytes: smi, gpuSource: 'nvidia-smi' };
  return { ...base, gpuBytes: null, gpuSource: provider === 'webgpu' ? 'WebGPU reports no total memory' : 'nvidia-smi not found' };
}
