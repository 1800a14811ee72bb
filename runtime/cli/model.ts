import { resolve } from 'node:path';
import { activeModelDir, resolveModelRef } from '../models/installed.ts';
import { resolveDataDir } from '../server/data-dir.ts';
import { writeDemoBundle } from '../demo/index.ts';
import { analyzeTransformer, formatAnalysis } from '../import/index.ts';
import { formatBytes } from '../files/place.ts';
import { ensureDemoBundle } from '../demo/cache.ts';
import { verifyCheckpoints } from '../bundle/checkpoints.ts';
import { describePackedWeights } from '../convert/packed-weights.ts';
import { availableProviders, autoProviders, describeAdapter, loadPipeline, probeWebGpuAdapter, readBundle } from '../pipeline/index.ts';
import type { Device } from '../pipeline/providers.ts';
import { formatPlan, type MemoryMode } from '../memory/plan.ts';
import { familyOf } from '../families/index.ts';

/** The bundle to use: --model / DYPE_MODEL (a folder or an installed model's name), else the active model (dype models --use), else the demo model (built on first use). */
export async function resolveModelDir(model: string | undefined, dataDir: string = resolveDataDir(process.env.DYPE_DATA)): Promise<string> {
  if (model) return resolveModelRef(model, dataDir);
  return activeModelDir(dataDir) ?? ensureDemoBundle(undefined, (line) => console.error(line));
}

export async function demoModelCommand(dir: string): Promise<void> {
  const target = resolve(dir);
  await writeDemoBundle(target);
  console.log(`wrote the demo bundle to ${target} (untrained: its images are abstract)`);
}

export async function infoCommand(opts: { model?: string; device: Device; memory: MemoryMode; gpuMemory?: number; width?: number; height?: number }): Promise<void> {
  const dir = await resolveModelDir(opts.model);
  const bundle = readBundle(dir);
  const pipeline = await loadPipeline(dir, { device: opts.device, memory: opts.memory, gpuMemoryGB: opts.gpuMemory, log: (l) => console.error(l) });
  const c = bundle.config;
  const providers = availableProviders();
  const skipped = pipeline.info.providerSelection?.skipped ?? [];
  // Always shown, also when another provider was chosen: it tells what WebGPU would run on.
  const webgpu = await probeWebGpuAdapter();
  const lines = [
    `bundle       ${dir}`,
    `model        ${c.name}${c.demo ? ' (demo: untrained, images are abstract)' : ''}`,
    `family       ${familyOf(c.family).label} (${c.family})`,
    `native       ${c.nativeResolution}² px, ${c.pixelsPerToken} px per token, ${c.latentChannels} latent channels`,
    `limits       ${c.limits.maxSide} px per side, ${(c.limits.maxPixels / 1e6).toFixed(1)} MP`,
    `rope         axes ${c.rope.axesDim.join('/')}, θ ${c.rope.theta}, fed as ${pipeline.info.ropeInputs === 'omega' ? 'rope_omega + rope_mscale' : 'rope_cos + rope_sin tables'}`,
    `defaults     ${c.defaults.steps} steps${c.defaults.guidance === null ? '' : `, guidance ${c.defaults.guidance}`}, DyPE λs ${c.defaults.dypeScale}, λt ${c.defaults.dypeExponent}`,
    `schedule     ${bundle.shift.dynamic ? `dynamic shift${bundle.shift.mu === 'flux2-empirical' ? ', FLUX.2\'s empirical μ in tokens and steps' : ''} (capped)` : `fixed shift ${bundle.shift.shift ?? 1}`}`,
    `provider     ${pipeline.info.provider} (auto order here: ${autoProviders().join(' → ')})`,
    ...skipped.map((s, i) => `${(i === 0 ? 'skipped' : '').padEnd(13)}${s.provider}: ${s.reason}`),
    `webgpu       ${webgpu.adapter ? `${describeAdapter(webgpu.adapter)}, shader-f16 ${webgpu.adapter.shaderF16 ? 'yes' : 'no'}` : webgpu.reason}`,
    `installed    ${providers.filter((p) => p.bundled).map((p) => p.name).join(', ')}; separate install: ${providers.filter((p) => !p.bundled).map((p) => p.name).join(', ') || 'none'}`,
  ];
  for (const record of verifyCheckpoints(dir)) lines.push(`weights      ${record.path} (${record.how} of ${record.source}; ${formatBytes(record.size)}, unchanged)`);
  for (const model of [bundle.paths.transformer, ...Object.values(bundle.text).map((t) => t.model), bundle.paths.vaeDecoder]) {
    const packed = describePackedWeights(model, dir);
    if (packed) lines.push(`quantized    ${packed}`);
  }
  if (bundle.halfTransformer) lines.push(`float16      ${bundle.halfTransformer} (loaded on providers that compute in float16)`);
  const plans = [pipeline.info.memoryPlan];
  if (opts.width !== undefined || opts.height !== undefined) plans.push(pipeline.planFor(opts.width ?? c.nativeResolution, opts.height ?? c.nativeResolution));
  const largest = Math.floor(Math.sqrt(pipeline.info.maxPixels));
  const memory = [...plans.flatMap((plan) => ['', ...formatPlan(plan)]), `largest      ${(pipeline.info.maxPixels / 1e6).toFixed(1)} MP (about ${largest}×${largest}) on this machine`];
  const analysis = analyzeTransformer(bundle.paths.transformer, { pixelsPerToken: c.pixelsPerToken, textTokens: Math.max(...Object.values(c.text)) });
  console.log([...lines, ...memory, '', ...formatAnalysis(analysis)].join('\n'));
  await pipeline.dispose();
}
