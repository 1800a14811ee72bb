// dype convert end to end: tiny checkpoints with real key names (a ComfyUI-like models folder) →
// a bundle that generates through the normal pipeline and the companion; bad inputs are refused,
// and a checkpoint changed after the conversion is detected.
import { execFile } from 'node:child_process';
import { closeSync, cpSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatConvertReport } from '../../runtime/cli/convert.ts';
import { formatBytes } from '../../runtime/files/place.ts';
import { ConvertError, convertCheckpoints, type ConvertOptions, type ConvertReport } from '../../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../../runtime/convert/safetensors.ts';
import { scanCheckpoints } from '../../runtime/convert/scan.ts';
import { loadPipeline, readBundle } from '../../runtime/pipeline/index.ts';
import { createSession } from '../../runtime/pipeline/ort.ts';
import { externalLocations, readModel } from '../../runtime/onnx/graph.ts';
import { createCompanion } from '../../runtime/server/index.ts';
import { Api, TOKEN } from '../server/helpers/companion.ts';
import { ENCODER_FIXTURES, FLUX_FIXTURES, tempRoot, writeDemoTokenizers } from './helpers/flux-fixtures.ts';
import { writeSafetensors, type RawTensor } from './helpers/write-safetensors.ts';

const { root, cleanup } = tempRoot('dype-convert-');
afterAll(cleanup);

const models = join(root, 'models');
const tokenizers = join(root, 'tokenizers');
/** The e2e CLIP is 24 wide with 12-wide heads (OpenAI's CLIP-L: 64). */
const base: Omit<ConvertOptions, 'output'> = { tokenizers, hubCache: null, clipHeadDim: 12 };

/** A ComfyUI-like folder: transformer, VAE, CLIP-L and T5 under their usual names, plus an unrelated file. */
function writeModels(dir: string, transformer = 'flux-dev-bf16.safetensors'): void {
  mkdirSync(join(dir, 'loras'), { recursive: true });
  cpSync(join(FLUX_FIXTURES, transformer), join(dir, 'flux1-dev.safetensors'));
  cpSync(join(ENCODER_FIXTURES, 'ae.safetensors'), join(dir, 'ae.safetensors'));
  cpSync(join(FLUX_FIXTURES, 'e2e', 'clip_l.safetensors'), join(dir, 'clip_l.safetensors'));
  cpSync(join(FLUX_FIXTURES, 'e2e', 't5xxl_fp16.safetensors'), join(dir, 't5xxl_fp16.safetensors'));
  // Not a FLUX component (a LoRA's key): skipped when found in a folder.
  writeFileSync(join(dir, 'loras', 'style.safetensors'), Buffer.concat([header({ 'lora_unet_x.alpha': { dtype: 'F32', shape: [], data_offsets: [0, 4] } }), Buffer.alloc(4)]));
}

function header(json: object): Buffer {
  const raw = Buffer.from(JSON.stringify(json));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(raw.length));
  return Buffer.concat([length, raw]);
}

let bundle = '';
let report: ConvertReport;

beforeAll(async () => {
  writeModels(models);
  writeDemoTokenizers(tokenizers);
  bundle = join(root, 'bundle');
  report = await convertCheckpoints([models], { ...base, output: bundle });
});

describe('dype convert', () => {
  it('finds the four components in a models folder and skips other checkpoints', () => {
    expect(report.components.map((c) => [c.kind, c.folders])).toEqual([
      ['transformer', ['transformer']],
      ['clip', ['text_encoder']],
      ['t5', ['text_encoder_2']],
      ['vae', ['vae_decoder', 'vae_encoder']],
    ]);
    expect(report.variant).toBe('dev');
    expect(report.ignored).toEqual([join(models, 'loras', 'style.safetensors')]);
    expect(report.components.find((c) => c.kind === 'transformer')!.dtypes.BF16).toMatchObject({ tensors: 84, cast: 84 });
    expect(report.components.find((c) => c.kind === 't5')!.dtypes.F16?.cast).toBeGreaterThan(0);
  });

  it('hard-links the checkpoints instead of copying them: the bundle adds graphs and metadata only', () => {
    const ino = (p: string) => statSync(p).ino;
    expect(ino(join(bundle, 'transformer', 'flux1-dev.safetensors'))).toBe(ino(join(models, 'flux1-dev.safetensors')));
    expect(ino(join(bundle, 'vae_decoder', 'ae.safetensors'))).toBe(ino(join(models, 'ae.safetensors')));
    expect(ino(join(bundle, 'vae_encoder', 'ae.safetensors'))).toBe(ino(join(models, 'ae.safetensors')));
    expect(report.placed.every((p) => p.how === 'hardlink')).toBe(true);
    const checkpointBytes = report.placed.reduce((n, p) => n + p.size, 0);
    expect(report.extraBytes).toBeLessThan(checkpointBytes / 4);
    expect(readdirSync(root).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('writes a bundle the pipeline reads: DyPE-ready transformer, FLUX defaults, tokenizers, checkpoint record', () => {
    const read = readBundle(bundle);
    expect(read.config).toMatchObject({
      rope: { axesDim: [4, 14, 14], theta: 10000, inputs: 'omega' },
      latentChannels: 16,
      patchSize: 1,
      vae: { scaleFactorPx: 2, scalingFactor: 0.3611, shiftFactor: 0.1159, encoder: true }, // vae_encoder/ built from the checkpoint's encoder.*
      defaults: { steps: 28, guidance: 3.5 },
    });
    const record = JSON.parse(readFileSync(join(bundle, 'checkpoints.json'), 'utf8')) as { files: { path: string; size: number }[] };
    expect(record.files.map((f) => f.path).sort()).toEqual(
      ['text_encoder/clip_l.safetensors', 'text_encoder_2/t5xxl_fp16.safetensors', 'transformer/flux1-dev.safetensors', 'vae_decoder/ae.safetensors', 'vae_encoder/ae.safetensors'],
    );
    expect(report.tokenizers.map((t) => t.from)).toEqual([join(tokenizers, 'tokenizer'), join(tokenizers, 'tokenizer_2')]);
  });

  it('writes the float16 twin of the transformer over the same hard-linked checkpoint, which GPU providers load', async () => {
    const read = readBundle(bundle);
    expect(read.halfTransformer).toBe(join(bundle, 'transformer', 'model.fp16.onnx'));
    const [full, half] = await Promise.all([read.paths.transformer, read.halfTransformer!].map((path) => createSession(path, 'cpu')));
    try {
      // The same contract (float32 inputs and output), and its weights read from the one checkpoint file.
      expect(half.inputs).toEqual(full.inputs);
      expect(half.outputTypes).toEqual(full.outputTypes);
      const locations = (path: string) => externalLocations(readModel(path).graph);
      expect(locations(read.halfTransformer!)).toEqual(['flux1-dev.safetensors']);
      expect(locations(read.paths.transformer)).toEqual(['flux1-dev.safetensors']);
    } finally {
      await Promise.all([full.release(), half.release()]);
    }
  });

  it('generates through the normal pipeline, with DyPE feeds per step', async () => {
    const pipeline = await loadPipeline(bundle, { device: 'cpu' });
    try {
      expect(pipeline.info).toMatchObject({ ropeInputs: 'omega', guidanceEmbeds: true, demo: false });
      const omegas: number[][] = [];
      const result = await pipeline.generate(
        { prompt: 'a lighthouse at dusk', width: 80, height: 64, seed: 3, steps: 2 },
        { onEvent: (e) => { if (e.kind === 'step') omegas.push(Array.from(e.feeds.rope_omega.data as Float32Array)); } },
      );
      const image = await sharp(result.image).raw().toBuffer({ resolveWithObject: true });
      expect([image.info.width, image.info.height]).toEqual([80, 64]);
      expect(new Set(image.data).size).toBeGreaterThan(8); // an image, not a constant
      expect(omegas).toHaveLength(2);
    } finally {
      await pipeline.dispose();
    }
  });

  it('generates through the companion', async () => {
    const dir = join(root, 'companion');
    const engine = await loadPipeline(bundle, { device: 'cpu' });
    const companion = await createCompanion({ engine, dataDir: dir, token: TOKEN, port: 0, version: 'convert-test', previewIntervalMs: 0 });
    try {
      const api = new Api(await companion.listen());
      const health = await api.get('/v1/health');
      expect(health.body).toMatchObject({ ok: true, demo: false, model: 'bundle' });
      const { job } = await api.run({ prompt: 'a small test', width: 64, height: 64, seed: 5, steps: 1 });
      expect(job.state, JSON.stringify(job.error)).toBe('done');
      const meta = await sharp((await api.bytes(`/v1/jobs/${job.id}/image`)).bytes).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
    } finally {
      await companion.close();
      await engine.dispose();
    }
  });

  it('reports what it did: components, dtypes and how they are widened, files, memory', () => {
    const text = formatConvertReport(report);
    expect(text).toMatch(/model\s+FLUX\.1-dev: 2 double \+ 2 single blocks, width 64, 2 heads \(bfl keys\)/);
    expect(text).toMatch(/transformer\s+transformer ← .*flux1-dev\.safetensors: 84 BF16 \(Cast to float32 at load\)/);
    expect(text).toMatch(/files\s+5 hardlink; extra disk \d+(\.\d)? KiB/);
    expect(text).toMatch(/precision\s+the graphs compute in float32: bf16\/fp16\/fp8 weights are widened once/);
  });

  it('counts the VAE encoder graph\'s weights too, and the memory line adds each weight once', async () => {
    const ae = await readSafetensorsHeader(join(models, 'ae.safetensors'));
    const stored = [...ae.tensors.values()].filter((t) => /^(de|en)coder\./.test(t.key));
    const vae = report.components.find((c) => c.kind === 'vae')!;
    const counted = Object.values(vae.dtypes);
    expect(counted.reduce((n, c) => n + c.tensors, 0)).toBe(stored.length);
    expect(counted.reduce((n, c) => n + c.bytes, 0)).toBe(stored.reduce((n, t) => n + t.byteLength, 0));
    // Every tensor of the four checkpoints is a weight of some graph: float32 memory is 4 bytes per element of them all.
    let elements = 0;
    for (const file of ['flux1-dev.safetensors', 'ae.safetensors', 'clip_l.safetensors', 't5xxl_fp16.safetensors']) {
      for (const t of (await readSafetensorsHeader(join(models, file))).tensors.values()) elements += t.shape.reduce((n, d) => n * d, 1);
    }
    expect(formatConvertReport(report)).toContain(`about ${formatBytes(elements * 4)} of float32 weights`);
  });

  it('lists the components with --scan', async () => {
    const entries = await scanCheckpoints([models]);
    const what = Object.fromEntries(entries.map((e) => [e.file.slice(models.length + 1), e.components.map((c) => c.architecture.id)]));
    expect(what).toEqual({
      'ae.safetensors': ['flux1-vae'],
      'clip_l.safetensors': ['clip-l'],
      'flux1-dev.safetensors': ['flux1-transformer-bfl'],
      'loras/style.safetensors': [],
      't5xxl_fp16.safetensors': ['t5-xxl'],
    });
  });
});

describe('dype convert on a diffusers folder', () => {
  it('reads the sharded transformer, finds the tokenizers inside, and makes a schnell bundle that generates', async () => {
    const hub = join(root, 'FLUX.1-schnell');
    cpSync(join(FLUX_FIXTURES, 'schnell-diffusers', 'transformer'), join(hub, 'transformer'), { recursive: true });
    const place = (from: string, to: string) => {
      mkdirSync(join(hub, to, '..'), { recursive: true });
      cpSync(from, join(hub, to));
    };
    place(join(ENCODER_FIXTURES, 'ae.safetensors'), 'vae/diffusion_pytorch_model.safetensors');
    place(join(FLUX_FIXTURES, 'e2e', 'clip_l.safetensors'), 'text_encoder/model.safetensors');
    place(join(FLUX_FIXTURES, 'e2e', 't5xxl_fp16.safetensors'), 'text_encoder_2/model.safetensors');
    writeDemoTokenizers(hub);
    const out = join(root, 'schnell-bundle');
    const converted = await convertCheckpoints([hub], { ...base, tokenizers: undefined, output: out });
    expect(converted.variant).toBe('schnell');
    expect(converted.model).toMatch(/\(diffusers keys\), no guidance embedding$/);
    expect(converted.components[0].files).toHaveLength(2);
    expect(converted.tokenizers.map((t) => t.from)).toEqual([join(hub, 'tokenizer'), join(hub, 'tokenizer_2')]);
    expect(readBundle(out).config.defaults).toEqual({ steps: 4, guidance: null, dypeScale: 2, dypeExponent: 2 });
    const pipeline = await loadPipeline(out, { device: 'cpu' });
    try {
      expect(pipeline.info.guidanceEmbeds).toBe(false);
      const result = await pipeline.generate({ prompt: 'fast', width: 64, height: 64, seed: 1, steps: 1 });
      expect(result.width).toBe(64);
    } finally {
      await pipeline.dispose();
    }
  });
});

describe('dype convert on an all-in-one checkpoint (ComfyUI: every component under its key prefix)', () => {
  it('finds all four components in one file, which the five model folders share', async () => {
    const dir = join(root, 'all-in-one');
    mkdirSync(dir, { recursive: true });
    const parts: [string, string][] = [
      ['model.diffusion_model.', join(FLUX_FIXTURES, 'flux-dev-fp8.safetensors')],
      ['vae.', join(ENCODER_FIXTURES, 'ae.safetensors')],
      ['text_encoders.clip_l.transformer.', join(FLUX_FIXTURES, 'e2e', 'clip_l.safetensors')],
      ['text_encoders.t5xxl.transformer.', join(FLUX_FIXTURES, 'e2e', 't5xxl_fp16.safetensors')],
    ];
    const tensors = new Map<string, RawTensor>();
    for (const [prefix, file] of parts) {
      const header = await readSafetensorsHeader(file);
      const bytes = readFileSync(file);
      for (const t of header.tensors.values()) tensors.set(prefix + t.key, { dtype: t.dtype, shape: t.shape, bytes: bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength) });
    }
    const file = join(dir, 'flux1-dev-fp8.safetensors');
    writeSafetensors(file, tensors);
    const out = join(dir, 'bundle');
    const converted = await convertCheckpoints([file], { ...base, output: out });
    expect(converted.placed.map((p) => p.path).sort()).toEqual(
      ['text_encoder', 'text_encoder_2', 'transformer', 'vae_decoder', 'vae_encoder'].map((f) => `${f}/flux1-dev-fp8.safetensors`),
    );
    expect(new Set(converted.placed.map((p) => statSync(join(out, p.path)).ino))).toEqual(new Set([statSync(file).ino]));
    expect(converted.components.find((c) => c.kind === 'transformer')!.dtypes.F8_E4M3).toMatchObject({ tensors: 36, cast: 36, scaled: 2 });
    const pipeline = await loadPipeline(out, { device: 'cpu' });
    try {
      expect((await pipeline.generate({ prompt: 'one file', width: 64, height: 64, seed: 4, steps: 1 })).width).toBe(64);
    } finally {
      await pipeline.dispose();
    }
  });
});

describe('dype convert refuses bad input clearly and writes nothing', () => {
  let n = 0;
  /** A fresh copy of the models folder, changed by `edit`; converting it must fail with `message`. */
  async function refuses(edit: (dir: string) => void, message: RegExp, options: Partial<ConvertOptions> = {}, inputs?: (dir: string) => string[]) {
    const dir = join(root, `bad-${n++}`);
    writeModels(dir);
    edit(dir);
    const output = join(dir, 'bundle');
    await expect(convertCheckpoints(inputs?.(dir) ?? [dir], { ...base, output, ...options })).rejects.toThrow(message);
    expect(existsSync(output)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('bundle'))).toEqual([]);
  }

  it('a truncated checkpoint, naming the file and the tensor past its end', async () => {
    await refuses((dir) => truncateSync(join(dir, 'flux1-dev.safetensors'), statSync(join(dir, 'flux1-dev.safetensors')).size - 100), /flux1-dev\.safetensors: tensor .* past the end of the file .*truncated/);
  });

  it('a corrupt header', async () => {
    await refuses((dir) => {
      const fd = openSync(join(dir, 'ae.safetensors'), 'r+');
      writeSync(fd, Buffer.from('{{{{'), 0, 4, 8);
      closeSync(fd);
    }, /ae\.safetensors: header is not valid UTF-8 JSON/);
  });

  it('a checkpoint whose header changes while it is being converted (after its header was read)', async () => {
    let dir = '';
    let changed = false;
    const log = (line: string) => {
      if (changed || !/double \+/.test(line)) return; // logged once the headers are read, before any file is placed
      const fd = openSync(join(dir, 't5xxl_fp16.safetensors'), 'r+');
      writeSync(fd, Buffer.from('X'), 0, 1, 10); // same size, a different key name in the header
      closeSync(fd);
      changed = true;
    };
    await refuses((d) => { dir = d; }, /t5xxl_fp16\.safetensors changed while it was being converted/, { log });
    expect(changed).toBe(true);
  });

  it('a missing component, saying which and where it usually is', async () => {
    await refuses((dir) => rmSync(join(dir, 'ae.safetensors')), /missing: VAE \(ae\.safetensors/);
  });

  it('an explicitly named file that is no known checkpoint', async () => {
    await refuses(() => {}, /style\.safetensors is not a checkpoint dype convert knows/, {}, (dir) => [dir, join(dir, 'loras', 'style.safetensors')]);
  });

  it('components that do not belong together', async () => {
    // A CLIP 32 wide (16-wide heads) for a transformer that takes 24-wide pooled embeddings.
    await refuses((dir) => cpSync(join(ENCODER_FIXTURES, 'clip_l.safetensors'), join(dir, 'clip_l.safetensors')), /do not belong together: .*clip_l\.safetensors is 32 wide/, { clipHeadDim: 16 });
  });

  it('two transformers', async () => {
    await refuses((dir) => cpSync(join(FLUX_FIXTURES, 'flux-dev-f32.safetensors'), join(dir, 'flux1-dev-fp32.safetensors')), /more than one diffusion transformer given/);
  });

  it('no tokenizers: says which files are needed and where they are published', async () => {
    await refuses(() => {}, /CLIP-L tokenizer \(tokenizer\.json, or vocab\.json \+ merges\.txt; published in black-forest-labs\/FLUX\.1-dev.*--tokenizers/, { tokenizers: undefined });
  });

  it('a non-bundle output folder, even with --force', async () => {
    const dir = join(root, 'occupied');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const refused = async (output: string, force: boolean) => {
      const error = await convertCheckpoints([models], { ...base, output, force }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConvertError);
      return (error as ConvertError).message;
    };
    expect(await refused(dir, true)).toMatch(/not empty and is not a dype bundle .*, even with --force/);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    writeFileSync(join(root, 'a-file'), 'x');
    expect(await refused(join(root, 'a-file'), true)).toMatch(/exists and is not a folder/);
    expect(await refused(bundle, false)).toMatch(/already holds a bundle; pass --force/);
  });
});

describe('dype convert on a Hugging Face cache snapshot (every checkpoint a symlink into blobs/)', () => {
  it('lists and converts the linked checkpoints, and the bundle holds the files themselves, not the links', async () => {
    const repo = join(root, 'hub', 'models--test--flux');
    const flat = join(root, 'hub-sources');
    writeModels(flat);
    const snapshot = join(repo, 'snapshots', 'rev0');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(snapshot, { recursive: true });
    const names = readdirSync(flat).filter((f) => f.endsWith('.safetensors')).sort();
    names.forEach((name, i) => {
      renameSync(join(flat, name), join(repo, 'blobs', `blob${i}`));
      symlinkSync(join('..', '..', 'blobs', `blob${i}`), join(snapshot, name)); // relative, as huggingface_hub writes them
    });
    expect((await scanCheckpoints([join(root, 'hub')])).filter((e) => e.components.length).map((e) => e.file.slice(snapshot.length + 1))).toEqual(names);
    const out = join(root, 'hub-bundle');
    const converted = await convertCheckpoints([snapshot], { ...base, output: out });
    expect(converted.placed).toHaveLength(5);
    for (const placed of converted.placed) {
      const file = join(out, placed.path);
      expect(lstatSync(file).isFile(), placed.path).toBe(true); // not a (dangling) symlink
      expect(statSync(file).ino).toBe(statSync(realpathSync(join(snapshot, basename(placed.path)))).ino);
    }
    expect(readBundle(out).config.vae.encoder).toBe(true);
  });
});

describe('a converted bundle whose checkpoint changes afterwards', () => {
  it('is refused at load with the file and what changed; a removed file too', async () => {
    const dir = join(root, 'changed');
    writeModels(dir);
    const out = join(dir, 'bundle');
    await convertCheckpoints([dir], { ...base, output: out });
    // Rewriting the original in place changes the bundle's hard link too (same inode).
    const original = join(dir, 't5xxl_fp16.safetensors');
    const bytes = readFileSync(original);
    writeFileSync(original, Buffer.concat([bytes, Buffer.alloc(16)]));
    expect(() => readBundle(out)).toThrow(/text_encoder_2\/t5xxl_fp16\.safetensors \(a hard link of .*t5xxl_fp16\.safetensors\) changed since the conversion: its size changed/);
    writeFileSync(original, bytes); // restored: loads again
    expect(() => readBundle(out)).not.toThrow();
    const fd = openSync(original, 'r+');
    writeSync(fd, Buffer.from('X'), 0, 1, 10); // same size, a different key name in the header
    closeSync(fd);
    expect(() => readBundle(out)).toThrow(/its safetensors header changed/);
    writeFileSync(original, bytes);
    rmSync(join(out, 'vae_decoder', 'ae.safetensors'));
    expect(() => readBundle(out)).toThrow(/lost vae_decoder\/ae\.safetensors/);
  });
});

describe('the CLI with a converted bundle', () => {
  const run = promisify(execFile);
  const dype = (...args: string[]) => run('node', ['bin/dype.js', ...args], { env: { ...process.env, HF_HUB_CACHE: join(root, 'no-hub') } });

  it('dype info describes it and dype generate writes an image', async () => {
    const info = await dype('info', '--model', bundle, '--device', 'cpu');
    expect(info.stdout).toMatch(/model\s+bundle/);
    expect(info.stdout).toMatch(/rope_omega \+ rope_mscale/);
    expect(info.stdout).toMatch(/weights\s+transformer\/flux1-dev\.safetensors \(hardlink of .*models\/flux1-dev\.safetensors; 951\.3 KiB, unchanged\)/);
    expect(info.stdout).toMatch(/4 fused \(4× com\.microsoft\.MultiHeadAttention\), 0 unfused/);
    const image = join(root, 'cli.png');
    await dype('generate', '--model', bundle, '--device', 'cpu', '-p', 'a boat', '-W', '64', '-H', '64', '--steps', '1', '--seed', '2', '-o', image, '--no-progress');
    expect((await sharp(image).metadata()).width).toBe(64);
  });

  it('dype convert --scan lists what each checkpoint is', async () => {
    const { stdout } = await dype('convert', '--scan', models);
    expect(stdout).toMatch(/FLUX\.1 transformer \(BFL keys\).*flux1-dev\.safetensors/);
    expect(stdout).toMatch(/T5-XXL text encoder.*t5xxl_fp16\.safetensors/);
    expect(stdout).toMatch(/1 other safetensors\/GGUF file/);
  });
});
