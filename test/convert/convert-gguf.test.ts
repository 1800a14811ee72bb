// dype convert with GGUF components (city96's FLUX.1 layout, a llama.cpp-named T5) mixed with
// safetensors ones, and with --quantize: bundles that generate through the pipeline and the
// companion, with each component's quantization in --scan and the report.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatConvertReport } from '../../runtime/cli/convert.ts';
import { convertCheckpoints, type ConvertReport } from '../../runtime/convert/index.ts';
import { PACKED_WEIGHTS_FILE } from '../../runtime/convert/packed-weights.ts';
import { scanCheckpoints } from '../../runtime/convert/scan.ts';
import { loadPipeline } from '../../runtime/pipeline/index.ts';
import { createCompanion } from '../../runtime/server/index.ts';
import { Api, TOKEN } from '../server/helpers/companion.ts';
import { ENCODER_FIXTURES, FLUX_FIXTURES, GGUF_FIXTURES, tempRoot, writeDemoTokenizers } from './helpers/flux-fixtures.ts';

const { root, cleanup } = tempRoot('dype-convert-gguf-');
afterAll(cleanup);

const tokenizers = join(root, 'tokenizers');
const base = { tokenizers, hubCache: null, clipHeadDim: 12 } as const;

/** A ComfyUI-like folder: GGUF transformer (unet/) and T5 (clip/), safetensors VAE and CLIP-L. */
function writeGgufModels(dir: string): void {
  mkdirSync(join(dir, 'unet'), { recursive: true });
  mkdirSync(join(dir, 'clip'), { recursive: true });
  cpSync(join(GGUF_FIXTURES, 'flux-dev-mixed-a.gguf'), join(dir, 'unet', 'flux1-dev-Q4_K_S.gguf'));
  cpSync(join(GGUF_FIXTURES, 'e2e-t5xxl-Q8_0.gguf'), join(dir, 'clip', 't5-v1_1-xxl-encoder-Q8_0.gguf'));
  cpSync(join(ENCODER_FIXTURES, 'ae.safetensors'), join(dir, 'ae.safetensors'));
  cpSync(join(FLUX_FIXTURES, 'e2e', 'clip_l.safetensors'), join(dir, 'clip', 'clip_l.safetensors'));
}

async function generates(bundle: string): Promise<void> {
  const pipeline = await loadPipeline(bundle, { device: 'cpu' });
  try {
    const result = await pipeline.generate({ prompt: 'a lighthouse at dusk', width: 64, height: 80, seed: 3, steps: 2 });
    const image = await sharp(result.image).raw().toBuffer({ resolveWithObject: true });
    expect([image.info.width, image.info.height]).toEqual([64, 80]);
    expect(new Set(image.data).size).toBeGreaterThan(8);
  } finally {
    await pipeline.dispose();
  }
}

const models = join(root, 'models');
const bundle = join(root, 'bundle');
let report: ConvertReport;
const logged: string[] = [];

beforeAll(async () => {
  writeDemoTokenizers(tokenizers);
  writeGgufModels(models);
  report = await convertCheckpoints([models], { ...base, output: bundle, log: (line) => logged.push(line) });
});

describe('dype convert with GGUF components', () => {
  it('takes the GGUF transformer and T5 beside safetensors CLIP-L and VAE, and says what each is stored in', () => {
    const byKind = Object.fromEntries(report.components.map((c) => [c.kind, c]));
    expect(byKind.transformer.quantization).toMatch(/^Q\d/);
    expect(byKind.t5.quantization).toMatch(/^Q8_0/);
    expect(byKind.clip.quantization).toBeUndefined();
    const text = formatConvertReport(report);
    expect(text).toMatch(/transformer .*flux1-dev-Q4_K_S\.gguf.*Q\d_\w+/);
    // The disk cost is said before the weights are written.
    const said = logged.findIndex((l) => /transformer: .* of repacked weights/.test(l));
    expect(said).toBeGreaterThanOrEqual(0);
  });

  it('writes the repacked blocks to one weights file per model folder; the GGUF files are not placed in the bundle', () => {
    expect(existsSync(join(bundle, 'transformer', PACKED_WEIGHTS_FILE))).toBe(true);
    expect(existsSync(join(bundle, 'text_encoder_2', PACKED_WEIGHTS_FILE))).toBe(true);
    expect(existsSync(join(bundle, 'transformer', 'flux1-dev-Q4_K_S.gguf'))).toBe(false);
    // Repacked size is close to the GGUF's (block forms differ a little; see README's table).
    const ratio = statSync(join(bundle, 'transformer', PACKED_WEIGHTS_FILE)).size / statSync(join(models, 'unet', 'flux1-dev-Q4_K_S.gguf')).size;
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(2);
  });

  it('generates through the pipeline', async () => {
    await generates(bundle);
  });

  it('generates through the companion', async () => {
    const engine = await loadPipeline(bundle, { device: 'cpu' });
    const companion = await createCompanion({ engine, dataDir: join(root, 'companion'), token: TOKEN, port: 0, version: 'gguf-test', previewIntervalMs: 0 });
    try {
      const api = new Api(await companion.listen());
      const { job } = await api.run({ prompt: 'a small test', width: 64, height: 64, seed: 5, steps: 1 });
      expect(job.state, JSON.stringify(job.error)).toBe('done');
      const meta = await sharp((await api.bytes(`/v1/jobs/${job.id}/image`)).bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
    } finally {
      await companion.close();
      await engine.dispose();
    }
  });

  it('dype info shows each component’s quantization', async () => {
    const { stdout } = await promisify(execFile)('node', ['bin/dype.js', 'info', '--model', bundle, '--device', 'cpu'], { env: { ...process.env, HF_HUB_CACHE: join(root, 'no-hub') } });
    expect(stdout).toMatch(/quantized\s+transformer\/weights\.bin: Q\d_\w+ .*as MatMulNBits blocks \(\d+(\.\d)? KiB\)/);
    expect(stdout).toMatch(/quantized\s+text_encoder_2\/weights\.bin: Q8_0 as MatMulNBits blocks/);
    expect(stdout).not.toMatch(/quantized\s+(text_encoder|vae_decoder)\//);
  });

  it('--scan shows each GGUF file’s quantization', async () => {
    const entries = await scanCheckpoints([models]);
    const gguf = entries.filter((e) => e.file.endsWith('.gguf'));
    expect(gguf.map((e) => [e.components.map((c) => c.architecture.component), e.quantization?.split(' ')[0]])).toEqual([
      [['t5'], 'Q8_0'],
      [['transformer'], expect.stringMatching(/^Q/)],
    ]);
  });
});

describe('dype convert --quantize', () => {
  it('q8: quantizes the transformer and T5 of float checkpoints into weights.bin and generates', async () => {
    const dir = join(root, 'float-models');
    mkdirSync(dir);
    cpSync(join(FLUX_FIXTURES, 'flux-dev-bf16.safetensors'), join(dir, 'flux1-dev.safetensors'));
    cpSync(join(ENCODER_FIXTURES, 'ae.safetensors'), join(dir, 'ae.safetensors'));
    cpSync(join(FLUX_FIXTURES, 'e2e', 'clip_l.safetensors'), join(dir, 'clip_l.safetensors'));
    cpSync(join(FLUX_FIXTURES, 'e2e', 't5xxl_fp16.safetensors'), join(dir, 't5xxl_fp16.safetensors'));
    const out = join(root, 'quantized');
    const quantized = await convertCheckpoints([dir], { ...base, output: out, quantize: 'q8' });
    const byKind = Object.fromEntries(quantized.components.map((c) => [c.kind, c]));
    expect(byKind.transformer.quantization).toBe('q8 (--quantize)');
    expect(byKind.t5.quantization).toBe('q8 (--quantize)');
    expect(byKind.vae.quantization).toBeUndefined();
    expect(statSync(join(out, 'transformer', PACKED_WEIGHTS_FILE)).size).toBeGreaterThan(0);
    await generates(out);
  });
});
