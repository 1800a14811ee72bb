/**
 * WebGPU without a GPU: Debian's chromium package (installed by .ci/apt-packages) carries
 * SwiftShader, a software Vulkan driver that Dawn accepts; libvulkan1 is the Vulkan loader.
 * `useSwiftShader()` makes SwiftShader the only Vulkan driver this test process sees. Call it at
 * the top of a test file, before any WebGPU session: Dawn reads the environment when it starts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

function hasVulkanLoader(): boolean {
  try {
    return execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).includes('libvulkan.so.1');
  } catch {
    return false;
  }
}

/**
 * Points Vulkan at SwiftShader; returns why it cannot, or null. Under CI a missing piece throws,
 * so CI never passes with the WebGPU tests skipped.
 */
export function useSwiftShader(): string | null {
  const missing = !existsSync(SWIFTSHADER_ICD)
    ? `SwiftShader's Vulkan driver (${SWIFTSHADER_ICD}, Debian package chromium) is not installed`
    : !hasVulkanLoader()
      ? 'the Vulkan loader libvulkan.so.1 (Debian package libvulkan1) is not installed'
      : null;
  if (missing) {
    if (process.env.CI) throw new Error(`WebGPU tests need SwiftShader: ${missing}`);
    return missing;
  }
  // VK_DRIVER_FILES is the loader's newer name for VK_ICD_FILENAMES; both replace the system list.
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  process.env.VK_DRIVER_FILES = SWIFTSHADER_ICD;
  // SwiftShader's WSI code complains on stderr without a runtime dir; a private one keeps it quiet.
  if (!process.env.XDG_RUNTIME_DIR) {
    const runtimeDir = mkdtempSync(join(tmpdir(), 'dype-xdg-'));
    process.env.XDG_RUNTIME_DIR = runtimeDir;
    process.once('exit', () => rmSync(runtimeDir, { recursive: true, force: true }));
  }
  return null;
}
