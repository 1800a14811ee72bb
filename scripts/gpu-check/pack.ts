/**
 * Packs what the GPU check needs on a lent GPU machine, which has no network and no Node, into
 * .gpu-check/ (git-ignored; the device tool's `carry` takes it, 64 MiB at most):
 *   check.mjs          scripts/gpu-check/check.ts and the runtime, bundled by esbuild
 *   modules.tar.xz     the native packages it loads, linux-x64 only (onnxruntime-node, webgpu, sharp)
 *   node.xz            this machine's Node binary
 *   libvulkan1_*.deb   the Vulkan loader, from Debian (that machine may lack one)
 * Run it in the checkout that the device tool sends: `npm run gpu-check:pack`.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = join(root, '.gpu-check');
const LIMIT_BYTES = 60 * 2 ** 20;
/** Native packages stay outside the bundle; only their linux-x64 parts travel. */
const NATIVE: Record<string, string[]> = {
  'onnxruntime-node': ['package.json', 'dist', 'bin/napi-v6/linux/x64'],
  'onnxruntime-common': ['package.json', 'dist/cjs'],
  webgpu: ['package.json', 'index.js', 'dist/linux-x64'],
  sharp: ['package.json', 'dist'],
  '@img/sharp-linux-x64': ['.'],
  '@img/sharp-libvips-linux-x64': ['.'],
  '@img/colour': ['.'],
  'detect-libc': ['.'],
  semver: ['.'],
};

// node.xz takes minutes to compress: kept while it holds this Node version.
const nodeStamp = join(out, 'node.version');
const keepNode = existsSync(nodeStamp) && readFileSync(nodeStamp, 'utf8') === process.version;
for (const file of existsSync(out) ? readdirSync(out) : []) {
  if (!(keepNode && (file === 'node.xz' || file === 'node.version'))) rmSync(join(out, file), { recursive: true, force: true });
}
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(root, 'scripts/gpu-check/check.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: join(out, 'check.mjs'),
  external: Object.keys(NATIVE),
  // esbuild's ESM output has no require(); bundled CommonJS dependencies need one.
  banner: { js: "import { createRequire as __dypeRequire } from 'node:module'; const require = __dypeRequire(import.meta.url);" },
  logLevel: 'warning',
});

const staging = join(out, 'staging');
for (const [name, parts] of Object.entries(NATIVE)) {
  for (const part of parts) cpSync(join(root, 'node_modules', name, part), join(staging, 'node_modules', name, part), { recursive: true, dereference: true });
}
execFileSync('tar', ['-cJf', join(out, 'modules.tar.xz'), '-C', staging, 'node_modules']);
rmSync(staging, { recursive: true, force: true });

if (!keepNode) {
  writeFileSync(join(out, 'node.xz'), execFileSync('xz', ['-T0', '-6', '-c', process.execPath], { maxBuffer: 256 * 2 ** 20 }));
  writeFileSync(nodeStamp, process.version);
}
try {
  execFileSync('apt-get', ['download', 'libvulkan1'], { cwd: out, stdio: 'ignore' });
} catch {
  console.warn('apt-get download libvulkan1 failed: the check then needs a Vulkan loader on the GPU machine');
}

const bytes = readdirSync(out).reduce((n, f) => n + statSync(join(out, f)).size, 0);
console.log(`packed ${out}: ${readdirSync(out).join(', ')} — ${(bytes / 2 ** 20).toFixed(1)} MiB`);
if (bytes > LIMIT_BYTES) throw new Error(`.gpu-check is ${(bytes / 2 ** 20).toFixed(1)} MiB; the device tool carries at most 64 MiB with the tree`);
if (!existsSync(join(out, 'check.mjs'))) throw new Error('check.mjs was not built');
