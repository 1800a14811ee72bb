/** The demo bundle's text encoders: a CLIP-like (pooled) and a T5-like (per-token) network. */
import { GraphBuilder, type SerializedModel } from '../onnx/builder.ts';
import { Net } from './nn.ts';
import type { DemoDims } from './dims.ts';

/**
 * CLIP-like: token + position embedding, one pre-LN layer of causal token mixing (a running mean
 * stands in for causal attention) and a GELU MLP, final LayerNorm. pooler_output is the final
 * state at argmax(input_ids) — the EOS position, as CLIP's text model does.
 */
export function buildClipEncoder(dims: DemoDims, vocabSize: number, seed: number): SerializedModel {
  const b = new GraphBuilder('dype_demo_text_encoder');
  const nn = new Net(b, seed);
  const L = dims.clipMaxLength;
  const W = dims.clipWidth;
  const ids = b.input('input_ids', 'int64', [1, L]);

  const tokens = b.op('Gather', [nn.param('token_embedding', [vocabSize, W], 1), ids], { axis: 0 }); // [1, L, W]
  let h = b.op('Add', [tokens, nn.param('position_embedding', [L, W], 0.5)], {}, { name: 'embeddings' });

  const causalMean = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = 0; j <= i; j++) causalMean[i * L + j] = 1 / (i + 1);
  const mixer = b.initFloat('causal_mean', causalMean, [L, L]);

  for (let i = 0; i < 2; i++) {
    h = b.scope(`layers.${i}`, () => {
      const mixed = b.op('MatMul', [mixer, nn.layerNorm(h, W, 'layer_norm1', true)]); // [1, L, W]
      const x = b.op('Add', [h, nn.linear(mixed, W, W, 'mix_proj', { gain: 1.5 })]);
      const m = nn.linear(nn.geluTanh(nn.linear(nn.layerNorm(x, W, 'layer_norm2', true), W, 4 * W, 'fc1')), 4 * W, W, 'fc2');
      return b.op('Add', [x, m], {}, { name: 'out' });
    });
  }
  const last = nn.layerNorm(h, W, 'final_layer_norm', true);
  b.op('Identity', [last], {}, { outputs: ['last_hidden_state'] });
  const eos = b.op('ArgMax', [ids], { axis: 1, keepdims: 0 }, { name: 'eos_index' }); // [1]
  b.op('Gather', [b.op('Squeeze', [last, b.constI64([0])]), eos], { axis: 0 }, { outputs: ['pooler_output'] }); // [1, W]

  b.output('last_hidden_state', 'float32', [1, L, W]);
  b.output('pooler_output', 'float32', [1, W]);
  return b.serialize({ opset: 17, producerName: 'dype-demo', docString: 'Untrained CLIP-like text encoder (demo bundle).' });
}

/**
 * T5-like: embedding, then a pre-RMSNorm residual block of global (bidirectional) mean mixing and a
 * GELU MLP, then a final RMSNorm. Sequence length is dynamic.
 */
export function buildT5Encoder(dims: DemoDims, vocabSize: number, seed: number): SerializedModel {
  const b = new GraphBuilder('dype_demo_text_encoder_2');
  const nn = new Net(b, seed);
  const W = dims.t5Width;
  const ids = b.input('input_ids', 'int64', [1, 'sequence']);

  let h = b.op('Gather', [nn.param('shared', [vocabSize, W], 1), ids], { axis: 0 }, { name: 'embeddings' }); // [1, L, W]
  h = b.scope('block.0', () => {
    const n = nn.rmsNorm(h, W, 'layer_norm');
    const context = b.op('ReduceMean', [n], { axes: [1], keepdims: 1 }); // [1, 1, W]
    const x = b.op('Add', [h, nn.linear(context, W, W, 'mix')]);
    const m = nn.linear(nn.geluTanh(nn.linear(nn.rmsNorm(x, W, 'ff_norm'), W, 4 * W, 'wi')), 4 * W, W, 'wo');
    return b.op('Add', [x, m], {}, { name: 'out' });
  });
  const last = nn.rmsNorm(h, W, 'final_layer_norm');
  b.op('Identity', [last], {}, { outputs: ['last_hidden_state'] });
  b.output('last_hidden_state', 'float32', [1, 'sequence', W]);
  return b.serialize({ opset: 17, producerName: 'dype-demo', docString: 'Untrained T5-like text encoder (demo bundle).' });
}
