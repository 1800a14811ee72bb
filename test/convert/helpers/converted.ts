/**
 * A graph built over a checkpoint as `dype convert` writes it: weights through the real
 * SafetensorsWeightSource (external data at their offsets inside a hard link of the checkpoint, Casts
 * from fp16/bf16), the converter's opset, the model loaded from its folder.
 */
import { linkSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../../../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../../../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../../../runtime/convert/source.ts';
import { GraphBuilder } from '../../../runtime/onnx/builder.ts';

/** Writes the graph beside a hard link of `checkpoint` in a new folder under `root` and opens it; reports how each dtype was read. */
export async function convertedSession(root: string, checkpoint: string, build: (g: GraphBuilder, w: SafetensorsWeightSource) => void) {
  const dir = await mkdtemp(join(root, 'model-'));
  const name = basename(checkpoint);
  linkSync(checkpoint, join(dir, name));
  const g = new GraphBuilder('model');
  const w = new SafetensorsWeightSource(g, [{ header: await readSafetensorsHeader(checkpoint), location: name }], name);
  build(g, w);
  const { model, externalData } = g.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION });
  expect(externalData).toBeUndefined(); // every weight stays in the checkpoint
  const path = join(dir, 'model.onnx');
  await writeFile(path, model);
  return { session: await ort.InferenceSession.create(path, { intraOpNumThreads: 2 }), conversions: w.conversions, path };
}
