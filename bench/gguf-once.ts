/**
 * One step of the GGUF bench in a fresh process, so that peak RSS belongs to it alone. Prints JSON.
 *   convert <checkpoint> <dir>: GGUF or safetensors transformer → dir/model.onnx (+ weights.bin)
 *   run <dir> <image tokens> <text tokens> <forwards>: CPU session, then forward passes
 */
import { link } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildFluxTransformer, deriveFluxConfig, type FluxConfig } from '../runtime/convert/flux.ts';
import { readGgufHeader } from '../runtime/convert/gguf/read.ts';
import { GgufWeightSource } from '../runtime/convert/gguf/source.ts';
import { CONVERTED_IR_VERSION, CONVERTED_OPSET } from '../runtime/convert/index.ts';
import { PackedWeightsFile } from '../runtime/convert/packed-weights.ts';
import { readSafetensorsHeader } from '../runtime/convert/safetensors.ts';
import { SafetensorsWeightSource } from '../runtime/convert/source.ts';
import type { WeightSource } from '../runtime/convert/weights.ts';
import { GraphBuilder } from '../runtime/onnx/builder.ts';
import { imageIds, textIds } from '../runtime/pipeline/latents.ts';
import { createSession, type TensorData } from '../runtime/pipeline/ort.ts';

const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;
const [mode, ...args] = process.argv.slice(2);

if (mode === 'convert') {
  const [checkpoint, dir] = args;
  const start = performance.now();
  const b = new GraphBuilder('transformer');
  let w: WeightSource;
  let out: PackedWeightsFile | null = null;
  if (checkpoint.endsWith('.gguf')) {
    out = new PackedWeightsFile(dir);
    w = new GgufWeightSource(b, [await readGgufHeader(checkpoint)], basename(checkpoint), out);
  } else {
    const placed = join(dir, basename(checkpoint));
    await link(checkpoint, placed);
    w = new SafetensorsWeightSource(b, [{ header: await readSafetensorsHeader(placed), location: basename(placed) }], basename(checkpoint));
  }
  const config = deriveFluxConfig(w, 'bfl');
  buildFluxTransformer(b, w, config);
  out?.close();
  writeFileSync(join(dir, 'model.onnx'), b.serialize({ opset: CONVERTED_OPSET, irVersion: CONVERTED_IR_VERSION }).model);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  console.log(JSON.stringify({ ms: performance.now() - start, peakRssBytes: peakRssBytes(), weightsBytes: out?.bytes ?? 0 }));
} else if (mode === 'run') {
  const [dir, imageSide, textTokens, forwards] = args;
  const { readFileSync } = await import('node:fs');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as FluxConfig;
  const side = Number(imageSide);
  const tokens = side * side;
  const text = Number(textTokens);
  const start = performance.now();
  const session = await createSession(join(dir, 'model.onnx'), 'cpu');
  const sessionMs = performance.now() - start;
  const rssAfterSession = process.memoryUsage().rss;
  const filled = (n: number, dims: number[]): TensorData => ({ type: 'float32', data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.5), dims });
  const omega = config.axesDim.flatMap((d) => Array.from({ length: d / 2 }, (_, i) => 1 / config.theta ** ((2 * i) / d)));
  const feeds: Record<string, TensorData> = {
    hidden_states: filled(tokens * config.inChannels, [1, tokens, config.inChannels]),
    encoder_hidden_states: filled(text * config.contextDim, [1, text, config.contextDim]),
    pooled_projections: filled(config.vecDim, [1, config.vecDim]),
    timestep: { type: 'float32', data: Float32Array.of(0.5), dims: [1] },
    guidance: { type: 'float32', data: Float32Array.of(3.5), dims: [1] },
    img_ids: { type: 'float32', data: Float32Array.from(imageIds(side, side)), dims: [tokens, 3] },
    txt_ids: { type: 'float32', data: Float32Array.from(textIds(text)), dims: [text, 3] },
    rope_omega: { type: 'float32', data: Float32Array.from(omega), dims: [omega.length] },
    rope_mscale: { type: 'float32', data: new Float32Array(omega.length).fill(1), dims: [omega.length] },
  };
  const times: number[] = [];
  let finite = true;
  for (let i = 0; i < Number(forwards); i++) {
    const t0 = performance.now();
    const out = await session.run(feeds);
    times.push(performance.now() - t0);
    finite &&= (out[session.outputNames[0]].data as Float32Array).every(Number.isFinite);
  }
  await session.release();
  console.log(JSON.stringify({ sessionMs, times, finite, rssAfterSession, peakRssBytes: peakRssBytes() }));
} else {
  throw new Error(`usage: gguf-once.ts convert <checkpoint> <dir> | run <dir> <image side> <text tokens> <forwards>`);
}
