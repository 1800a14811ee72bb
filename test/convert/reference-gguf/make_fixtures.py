"""
Tiny GGUF checkpoints with mixed block types, and torch references computed from their dequantized
weights. Run from the repository root with Debian's torch 1.13 (`/usr/bin/python3`):

    /usr/bin/python3 test/convert/reference-gguf/make_fixtures.py

Writes test/convert/fixtures/gguf/:
- flux-dev-mixed-{a,b}.gguf: the toy FLUX.1-dev of ../reference-transformer (same weights as
  flux-dev-f32.safetensors) laid out as city96's convert.py + llama-quantize leave it: BFL keys,
  general.architecture "flux", 1-D tensors F32; img_in, txt_in, time_in, vector_in, guidance_in and
  final_layer unquantized (F16 in a, BF16 in b); every other Linear weight quantized, the types
  rotating so that the two files together use Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and, on the K = 256
  weights (mlp.2), Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
- t5-mixed.gguf: ../reference-encoders' T5 test model (seed 2) in llama.cpp's t5encoder naming
  (enc.blk.N.attn_q, token_embd, …) with Q8_0/Q5_1/Q4_0/Q5_0/Q4_1 Linear weights, a Q8_0 token
  embedding (the reference rounds it to float16, as dype convert keeps it), F32 norms and bias.
- e2e-t5xxl-Q8_0.gguf: the e2e T5 of ../fixtures/transformer/e2e (sized to fit the toy FLUX) in Q8_0.
- blocks.gguf: one [16, 512] weight per type (random valid blocks) for the per-type tests.
- reference.json: outputs of every file from the dequantized weights (the transformer at native RoPE
  and DyPE ω/mscale, with the inputs of ../fixtures/transformer/reference.json), each block tensor's
  dequantized values and its product with fixed inputs.

The dequantizer (gguf_reference.py) matches city96/ComfyUI-GGUF's dequant.py bit for bit on every
type here (checked by running both on the same blocks; their code is not part of this repository).
"""
import importlib.util
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
OUT = os.path.join(ROOT, 'test', 'convert', 'fixtures', 'gguf')
sys.path.insert(0, HERE)
import gguf_reference as gr  # noqa: E402


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flux = load('flux_reference', os.path.join(ROOT, 'test', 'convert', 'reference-transformer', 'make_fixtures.py'))
enc = load('encoder_reference', os.path.join(ROOT, 'test', 'convert', 'reference-encoders', 'reference.py'))

UNQUANTIZED = ('img_in.', 'txt_in.', 'time_in.', 'vector_in.', 'guidance_in.', 'final_layer.')  # city96's lcpp.patch
BLOCK32 = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1']
KQUANTS = {'a': ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K'], 'b': ['Q6_K', 'Q5_K', 'Q4_K', 'Q3_K']}


def rounded(values, t):
    return gr.dequantize(t, gr.quantize(t, values), values.size).reshape(values.shape)


def flux_file(name, weights, variant):
    """Writes one mixed GGUF; returns the weights as dequantized (what the reference computes with)."""
    tensors, dequantized, types = [], {}, {}
    rot = 0 if variant == 'a' else 2
    kq = 0
    for key in sorted(weights):
        value = weights[key].numpy().astype(np.float32)
        if value.ndim == 1:
            t = 'F32'
        elif key.startswith(UNQUANTIZED):
            t = 'F16' if variant == 'a' else 'BF16'
        elif value.shape[1] % 256 == 0:
            t = KQUANTS[variant][kq % 4]
            kq += 1
        else:
            t = BLOCK32[rot % 5]
            rot += 1
        data = gr.quantize(t, value.reshape(value.shape[0], -1) if value.ndim > 1 else value)
        tensors.append((key, t, value.shape, data))
        dequantized[key] = torch.from_numpy(gr.dequantize(t, data, value.size).reshape(value.shape).copy())
        types[key] = t
    gr.write_gguf(os.path.join(OUT, name), {'general.architecture': 'flux', 'general.quantization_version': 2}, tensors)
    return dequantized, types


T5_NAMES = [  # Hugging Face → llama.cpp (the reverse of ComfyUI-GGUF's T5_SD_MAP)
    ('encoder.block.', 'enc.blk.'), ('shared', 'token_embd'), ('encoder.final_layer_norm', 'enc.output_norm'),
    ('layer.0.SelfAttention.relative_attention_bias', 'attn_rel_b'), ('layer.0.SelfAttention.q', 'attn_q'),
    ('layer.0.SelfAttention.k', 'attn_k'), ('layer.0.SelfAttention.v', 'attn_v'), ('layer.0.SelfAttention.o', 'attn_o'),
    ('layer.0.layer_norm', 'attn_norm'), ('layer.1.DenseReluDense.wi_1', 'ffn_up'), ('layer.1.DenseReluDense.wo', 'ffn_down'),
    ('layer.1.DenseReluDense.wi_0', 'ffn_gate'), ('layer.1.layer_norm', 'ffn_norm'),
]


def llama_name(key):
    for hf, ll in T5_NAMES:
        key = key.replace(hf, ll)
    return key


def t5_file(name, model, linear_types):
    sd = enc.state(model)
    tensors, loaded = [], {}
    rot = 0
    for key in sorted(sd):
        value = sd[key].float().numpy()
        if key == 'shared.weight':
            t = 'Q8_0'
        elif value.ndim == 1 or 'relative_attention_bias' in key:
            t = 'F32'
        else:
            t = linear_types[rot % len(linear_types)]
            rot += 1
        data = gr.quantize(t, value)
        tensors.append((llama_name(key), t, value.shape, data))
        loaded[key] = torch.from_numpy(gr.dequantize(t, data, value.size).reshape(value.shape).copy())
    # dype convert keeps a quantized embedding table as float16 (it is gathered by row, not multiplied).
    loaded['shared.weight'] = loaded['shared.weight'].half().float()
    gr.write_gguf(os.path.join(OUT, name), {'general.architecture': 't5encoder'}, tensors)
    missing, unexpected = model.load_state_dict(loaded, strict=False)
    assert not unexpected and all('embed_tokens' in k for k in missing), (missing, unexpected)


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(ROOT, 'test', 'convert', 'fixtures', 'transformer', 'reference.json')) as f:
        base = json.load(f)
    grid = base['grid']
    rows, cols, T = grid['height'], grid['width'], grid['textTokens']
    shape = {'hidden_states': (1, rows * cols, flux.IN_CH), 'encoder_hidden_states': (1, T, flux.CTX),
             'pooled_projections': (1, flux.VEC), 'timestep': (1,), 'guidance': (1,)}
    inputs = {k: torch.tensor(base['inputs'][k], dtype=torch.float32).reshape(s) for k, s in shape.items()}
    img_ids = torch.zeros(rows * cols, 3)
    for r in range(rows):
        for c in range(cols):
            img_ids[r * cols + c] = torch.tensor([0, r, c])
    txt_ids = torch.zeros(T, 3)

    def run(w, rope):
        omega = None if rope == 'native' else torch.tensor(base['rope']['dype']['omega'], dtype=torch.float64)
        mscale = None if rope == 'native' else torch.tensor(base['rope']['dype']['mscale'], dtype=torch.float64)
        with torch.no_grad():
            out = flux.forward(w, inputs['hidden_states'], inputs['encoder_hidden_states'], inputs['pooled_projections'],
                               inputs['timestep'], inputs['guidance'], img_ids[None], txt_ids[None], omega, mscale)
        return [round(float(v), 7) for v in out.flatten()]

    reference = {'source': 'test/convert/reference-gguf/make_fixtures.py (torch %s, numpy %s)' % (torch.__version__, np.__version__),
                 'transformer': {}, 't5': {}, 'blocks': {}}
    dev = flux.bfl_weights(guidance=True, seed=1)
    for variant in ('a', 'b'):
        name = f'flux-dev-mixed-{variant}.gguf'
        w, types = flux_file(name, dev, variant)
        reference['transformer'][name] = {'types': types, 'native': run(w, 'native'), 'dype': run(w, 'dype')}

    # T5 test model (../reference-encoders t5_fixture: seed 2) with mixed Linear types.
    cfg = dict(vocab=100, width=32, heads=4, d_kv=8, d_ff=64, blocks=2)
    model = enc.T5EncoderModel(**cfg)
    enc.randomize(model, 2)
    t5_file('t5-mixed.gguf', model, ['Q8_0', 'Q5_1', 'Q4_0', 'Q5_0', 'Q4_1'])
    ids = [(i * 13 + 3) % 100 for i in range(11)] + [1]
    with torch.no_grad():
        reference['t5']['t5-mixed.gguf'] = {'config': cfg, 'input_ids': ids, 'last_hidden_state': enc.floats(model(torch.tensor([ids])))}

    # The e2e T5 (write_e2e_encoders: seed 6), all Q8_0 but its norms and bias.
    e2e = enc.T5EncoderModel(vocab=132, width=flux.CTX, heads=4, d_kv=8, d_ff=2 * flux.CTX, blocks=1)
    enc.randomize(e2e, 6)
    for p in e2e.parameters():  # the e2e safetensors file is float16
        p.data = p.data.half().float()
    t5_file('e2e-t5xxl-Q8_0.gguf', e2e, ['Q8_0'])

    # One [16, 512] weight per type, and its product with fixed inputs x [3, 512].
    g = np.random.default_rng(11)
    x = g.standard_normal((3, 512)).astype(np.float32)
    tensors = []
    for t in ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']:
        value = (g.standard_normal((16, 512)) * 0.05 + g.standard_normal((16, 1)) * 0.02).astype(np.float32)
        data = gr.quantize(t, value)
        tensors.append((f'blocks.{t}.weight', t, value.shape, data))
        w = gr.dequantize(t, data, value.size).reshape(value.shape).astype(np.float64)
        reference['blocks'][t] = {'product': [float(v) for v in (x.astype(np.float64) @ w.T).flatten()]}
    reference['blocks_input'] = [float(v) for v in x.flatten()]
    gr.write_gguf(os.path.join(OUT, 'blocks.gguf'), {'general.architecture': 'flux'}, tensors)

    with open(os.path.join(OUT, 'reference.json'), 'w') as f:
        json.dump(reference, f)
    print('wrote', OUT)


if __name__ == '__main__':
    main()
