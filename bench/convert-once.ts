/** One transformer conversion in a fresh process, so peak RSS belongs to it alone. Prints JSON. */
import { link } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildFluxTransformer, deriveFluxConfig } from '../runtime/convert/flux.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../runtime/convert/index.ts';
import { readSafetensorsHeader } from '../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../runtime/convert/source.ts';
import { GraphBuilder } from '../runtime/onnx/builder.ts';

const [checkpoint, dir] = process.argv.slice(2);
const start = performance.now();
const placed = join(dir, basename(checkpoint));
await link(checkpoint, placed);
const header = await readSafetensorsHeader(placed);
const b = new GraphBuilder('transformer');
const w = new SafetensorsWeightSource(b, [{ header, location: basename(placed) }], basename(checkpoint));
const config = deriveFluxConfig(w, 'bfl');
buildFluxTransformer(b, w, config);
const { model } = b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION });
writeFileSync(join(dir, 'model.onnx'), model);
const ms = performance.now() - start;
console.log(JSON.stringify({ ms, graphBytes: model.length, headerBytes: header.dataStart, peakRssBytes: process.resourceUsage().maxRSS * 1024, tensors: header.tensors.size }));
