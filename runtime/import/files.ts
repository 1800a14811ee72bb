/** The export's folder layout, and moving its (large) files into a bundle by hard link or copy. */
import { fromBinary } from '@bufbuild/protobuf';
import { WireType } from '@bufbuild/protobuf/wire';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { ValueInfoProtoSchema, type ValueInfoProto } from 'onnx-buf';
import { ImportError } from './errors.ts';

/** Where a FLUX ONNX export keeps its parts. */
export interface ExportLayout {
  dir: string;
  /**
   * 'optimum': diffusers/optimum folders (transformer/, text_encoder/, …, with configs and tokenizers);
   * 'bfl': BFL's exporter and their FLUX.1-*-onnx repositories (clip.opt/, t5.opt/, transformer.opt/[precision/], vae.opt/).
   */
  kind: 'optimum' | 'bfl';
  transformer: string;
  textEncoder: string;
  textEncoder2: string;
  vaeDecoder: string;
  /** optimum's vae_encoder/ (image-to-image needs it), when the export has one; BFL's repositories have none. */
  vaeEncoder: string | null;
  tokenizer: string;
  tokenizer2: string;
  /** scheduler/scheduler_config.json, when the export has it. */
  scheduler: string | null;
  modelIndex: string | null;
}

type ModelPart = 'transformer' | 'textEncoder' | 'textEncoder2' | 'vaeDecoder';

const OPTIMUM_FOLDERS: Readonly<Record<ModelPart, string>> = { transformer: 'transformer', textEncoder: 'text_encoder', textEncoder2: 'text_encoder_2', vaeDecoder: 'vae_decoder' };
const BFL_FOLDERS: Readonly<Record<ModelPart, string>> = { transformer: 'transformer.opt', textEncoder: 'clip.opt', textEncoder2: 't5.opt', vaeDecoder: 'vae.opt' };
/** Precision subfolders of BFL's repositories that onnxruntime runs, best first. */
const RUNNABLE_PRECISIONS = ['bf16', 'fp16', 'fp32'];
/** Precision folders holding FP8/FP4 QuantizeLinear/DequantizeLinear graphs: TensorRT runs them, onnxruntime does not. */
const TENSORRT_ONLY = /fp8|fp4|nvfp4|int4/i;

const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

/** `model.onnx` in a folder, else its only `.onnx` file; null when there is none. */
export function findModelFile(folder: string): string | null {
  if (!isDir(folder)) return null;
  if (existsSync(join(folder, 'model.onnx'))) return join(folder, 'model.onnx');
  const models = readdirSync(folder).filter((f) => extname(f) === '.onnx');
  if (models.length > 1) {
    throw new ImportError('export_invalid', `${folder} holds several ONNX files (${models.join(', ')}) and no model.onnx; keep one of them`);
  }
  return models.length === 1 ? join(folder, models[0]) : null;
}

/**
 * A BFL component: `<part>.opt/model.onnx`, or a runnable precision subfolder of it. A folder with
 * only TensorRT variants is refused, naming the variant that works.
 */
function findBflModel(dir: string, folder: string): string | null {
  const base = join(dir, folder);
  const direct = findModelFile(base);
  if (direct) return direct;
  const subfolders = isDir(base) ? readdirSync(base).filter((f) => isDir(join(base, f))) : [];
  for (const precision of RUNNABLE_PRECISIONS) {
    const file = subfolders.includes(precision) ? findModelFile(join(base, precision)) : null;
    if (file) return file;
  }
  const variant = folder === 't5.opt' ? readdirSync(dir).filter((f) => /^t5-.+\.opt$/.test(f) && TENSORRT_ONLY.test(f)) : subfolders.filter((f) => TENSORRT_ONLY.test(f)).map((f) => `${folder}/${f}`);
  if (variant.length) {
    const works = folder === 't5.opt' ? 't5.opt' : `${folder}/bf16`;
    throw new ImportError(
      'export_invalid',
      `${dir} has only ${variant.join(', ')} for ${folder}: FP8/FP4 quantized graphs that only TensorRT runs, not onnxruntime. ` +
        `Download ${works} from the same BFL repository (it runs on onnxruntime) and import again.`,
    );
  }
  return null;
}

export function locateExport(dir: string): ExportLayout {
  if (!isDir(dir)) throw new ImportError('export_invalid', `export folder not found: ${dir}`);
  const kind = Object.values(BFL_FOLDERS).some((f) => existsSync(join(dir, f))) || readdirSync(dir).some((f) => /^t5-.+\.opt$/.test(f)) ? 'bfl' : 'optimum';
  const folders = kind === 'bfl' ? BFL_FOLDERS : OPTIMUM_FOLDERS;
  const found: Partial<Record<ModelPart, string>> = {};
  const missing: string[] = [];
  for (const [key, folder] of Object.entries(folders) as [ModelPart, string][]) {
    const file = kind === 'bfl' ? findBflModel(dir, folder) : findModelFile(join(dir, folder));
    if (file) found[key] = file;
    else missing.push(`${folder}/${kind === 'bfl' && key === 'transformer' ? '[bf16/]' : ''}model.onnx`);
  }
  if (missing.length && kind === 'optimum') {
    throw new ImportError('export_invalid', `${dir} is not a FLUX ONNX export (optimum layout): missing ${missing.join(', ')}`);
  }
  if (missing.length) {
    throw new ImportError(
      'export_invalid',
      `${dir} (BFL's ONNX layout) lacks ${missing.join(', ')}. BFL's FLUX.1-dev-onnx and FLUX.1-schnell-onnx repositories hold clip.opt, t5.opt, ` +
        'transformer.opt/<precision> and vae.opt; download the missing folders from there (or export them with flux.trt in BFL\'s flux repository).',
    );
  }
  const tokenizers = ['tokenizer', 'tokenizer_2'].filter((f) => !isDir(join(dir, f)));
  if (kind === 'bfl' && tokenizers.length) {
    throw new ImportError(
      'tokenizer_missing',
      `${dir} has no ${tokenizers.map((f) => `${f}/`).join(' or ')} folder: BFL's ONNX repositories ship no tokenizers. Copy tokenizer/ (CLIP: tokenizer.json, or vocab.json + merges.txt) ` +
        'and tokenizer_2/ (T5: tokenizer.json or spiece.model) from black-forest-labs/FLUX.1-dev or FLUX.1-schnell into it.',
    );
  }
  const optional = (rel: string) => (existsSync(join(dir, rel)) ? join(dir, rel) : null);
  return {
    dir,
    kind,
    transformer: found.transformer!,
    textEncoder: found.textEncoder!,
    textEncoder2: found.textEncoder2!,
    vaeDecoder: found.vaeDecoder!,
    vaeEncoder: kind === 'optimum' ? findModelFile(join(dir, 'vae_encoder')) : null,
    tokenizer: join(dir, 'tokenizer'),
    tokenizer2: join(dir, 'tokenizer_2'),
    scheduler: optional('scheduler/scheduler_config.json'),
    modelIndex: optional('model_index.json'),
  };
}

export function readJsonObject(path: string | null): Record<string, unknown> | null {
  if (!path || !existsSync(path)) return null;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ImportError('export_invalid', `${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ImportError('export_invalid', `${path} must hold a JSON object`);
  return value as Record<string, unknown>;
}

/** Positional protobuf reading from a file descriptor: only the bytes asked for are read. */
class FileFields {
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  private bytes(at: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let read = 0;
    while (read < length) {
      const n = readSync(this.fd, out, read, length - read, at + read);
      if (n === 0) throw new Error(`unexpected end of file at byte ${at + read}`);
      read += n;
    }
    return out;
  }

  /** A varint at `at`: its value and the position after it. */
  private varint(at: number): [number, number] {
    const head = this.bytes(at, Math.min(10, Math.max(1, this.size - at)));
    let value = 0;
    for (let i = 0; i < head.length; i++) {
      value += (head[i] & 0x7f) * 2 ** (7 * i);
      if ((head[i] & 0x80) === 0) return [value, at + i + 1];
    }
    throw new Error(`bad varint at byte ${at}`);
  }

  /** Visits the fields in [start, end): field number, wire type, and the payload's byte range. */
  *fields(start: number, end: number): Generator<{ field: number; wire: number; from: number; to: number }> {
    let at = start;
    while (at < end) {
      const [tag, afterTag] = this.varint(at);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      let from = afterTag;
      let to: number;
      if (wire === WireType.Varint) to = this.varint(afterTag)[1];
      else if (wire === WireType.Bit64) to = afterTag + 8;
      else if (wire === WireType.Bit32) to = afterTag + 4;
      else if (wire === WireType.LengthDelimited) {
        const [length, afterLength] = this.varint(afterTag);
        from = afterLength;
        to = afterLength + length;
      } else throw new Error(`unsupported wire type ${wire} at byte ${at}`);
      yield { field, wire, from, to };
      at = to;
    }
  }

  read(from: number, to: number): Uint8Array {
    return this.bytes(from, to - from);
  }
}

/**
 * Graph inputs and outputs of a model file, read without loading its nodes or weights: the file is
 * walked field by field (ModelProto.graph = 7 → GraphProto.input = 11, output = 12), skipping the
 * rest by its length, so even a model with gigabytes of inline weights costs a few reads.
 */
export function readGraphIo(path: string): { inputs: ValueInfoProto[]; outputs: ValueInfoProto[] } {
  const inputs: ValueInfoProto[] = [];
  const outputs: ValueInfoProto[] = [];
  const fd = openSync(path, 'r');
  try {
    const file = new FileFields(fd, fstatSync(fd).size);
    for (const top of file.fields(0, file.size)) {
      if (top.field !== 7 || top.wire !== WireType.LengthDelimited) continue;
      for (const f of file.fields(top.from, top.to)) {
        if ((f.field === 11 || f.field === 12) && f.wire === WireType.LengthDelimited) {
          (f.field === 11 ? inputs : outputs).push(fromBinary(ValueInfoProtoSchema, file.read(f.from, f.to)));
        }
      }
    }
  } catch (error) {
    throw new ImportError('export_invalid', `${path} is not a readable ONNX model: ${(error as Error).message}`, { cause: error });
  } finally {
    closeSync(fd);
  }
  return { inputs, outputs };
}
