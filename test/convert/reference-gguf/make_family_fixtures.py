"""
Tiny GGUF transformers of the other families, as city96-style files keep a ComfyUI diffusion model:
the same key names as the safetensors, 1-D tensors (and Z-Image's [1, D] pad tokens) F32, the
embedders and final layer F16, every other Linear weight block-quantized with the types rotating.
References are computed by each family's torch reference from the dequantized weights. Run from
the repository root with Debian's torch 1.13 (`/usr/bin/python3`), after ../reference-flux2 and
../reference-zimage have written their fixtures:

    /usr/bin/python3 test/convert/reference-gguf/make_family_fixtures.py

Writes test/convert/fixtures/gguf/:
- flux-2-klein-4b-mixed.gguf: the toy klein of ../reference-flux2 (flux-2-klein-4b.safetensors).
- z-image-turbo-mixed.gguf: the toy Z-Image of ../reference-zimage (z_image_turbo_bf16.safetensors).
- families-reference.json: per file, each tensor's type and the transformer's output on the inputs
  of the family's reference.json (klein at native RoPE and DyPE; Z-Image's padded case at DyPE).
general.architecture is written as a label only: dype convert recognises the model by its keys.
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


KLEIN_DIR = os.path.join(ROOT, 'test', 'convert', 'reference-flux2')
ZIMAGE_DIR = os.path.join(ROOT, 'test', 'convert', 'reference-zimage')
klein = load('reference_flux2', os.path.join(KLEIN_DIR, 'make_fixtures.py'))
zimage = load('reference_zimage', os.path.join(ZIMAGE_DIR, 'make_fixtures.py'))

# What dype convert --quantize leaves unquantized (runtime/convert/quantize.ts), as city96 leaves FLUX's.
UNQUANTIZED = ('img_in.', 'txt_in.', 'time_in.', 'final_layer.', 'x_embedder.', 'cap_embedder.', 't_embedder.')
BLOCK32 = ['Q8_0', 'Q4_0', 'Q5_1', 'Q4_1', 'Q5_0']
KQUANTS = ['Q6_K', 'Q4_K', 'Q5_K', 'Q3_K']


def gguf_file(name, weights, architecture):
    """Writes one mixed GGUF; returns the weights as dequantized (what the reference computes with) and the types."""
    tensors, dequantized, types = [], {}, {}
    rot, kq = 0, 0
    for key in sorted(weights):
        value = weights[key].float().numpy().astype(np.float32)
        if value.ndim == 1 or value.shape[0] == 1:
            t = 'F32'
        elif key.startswith(UNQUANTIZED):
            t = 'F16'
        elif value.shape[1] % 256 == 0:
            t = KQUANTS[kq % len(KQUANTS)]
            kq += 1
        else:
            t = BLOCK32[rot % len(BLOCK32)]
            rot += 1
        data = gr.quantize(t, value)
        tensors.append((key, t, value.shape, data))
        dequantized[key] = torch.from_numpy(gr.dequantize(t, data, value.size).reshape(value.shape).copy())
        types[key] = t
    gr.write_gguf(os.path.join(OUT, name), {'general.architecture': architecture, 'general.quantization_version': 2}, tensors)
    return dequantized, types


def floats(t):
    return [float(x) for x in t.detach().double().flatten().tolist()]


def main():
    reference = {}
    ref = json.load(open(os.path.join(KLEIN_DIR, 'fixtures', 'reference.json')))
    tr, c = ref['transformer'], klein.KLEIN
    w, types = gguf_file('flux-2-klein-4b-mixed.gguf', zimage.read_safetensors(os.path.join(KLEIN_DIR, 'fixtures', tr['checkpoint'])), 'flux2')
    grid = tr['grid']
    hidden = torch.tensor(tr['inputs']['hidden_states'], dtype=torch.float32).reshape(grid['height'] * grid['width'], c['in_channels'])
    context = torch.tensor(ref['qwen3']['klein']['values'], dtype=torch.float32).reshape(ref['qwen3']['klein']['shape'])
    t = torch.tensor(tr['inputs']['timestep'])
    with torch.no_grad():
        out = {name: floats(klein.klein_forward(w, c, hidden, context, t, klein.image_ids(grid['height'], grid['width']), klein.text_ids(grid['textTokens']),
                                                tr['rope'][name]['omega'], tr['rope'][name]['mscale'])) for name in ('native', 'dype')}
    reference['flux-2-klein-4b-mixed.gguf'] = {'types': types, **out}

    ref = json.load(open(os.path.join(ZIMAGE_DIR, 'fixtures', 'reference.json')))
    w, types = gguf_file('z-image-turbo-mixed.gguf', zimage.read_safetensors(os.path.join(ZIMAGE_DIR, 'fixtures', 'z_image_turbo_bf16.safetensors')), 'lumina2')
    case = ref['cases']['padded']
    g = case['grid']
    latents = torch.tensor(case['latents'], dtype=torch.float32).reshape(-1, 2 * g['height'], 2 * g['width'])
    caption = torch.tensor(case['caption'], dtype=torch.float32).reshape(g['textTokens'], -1)
    rope = (torch.tensor(ref['rope']['dype']['omega'], dtype=torch.float64), torch.tensor(ref['rope']['dype']['mscale'], dtype=torch.float64))
    with torch.no_grad():
        out = zimage.forward(w, latents, torch.tensor([1 - ref['sigma']], dtype=torch.float32), caption, rope)
    reference['z-image-turbo-mixed.gguf'] = {'types': types, 'dype': floats(out)}

    with open(os.path.join(OUT, 'families-reference.json'), 'w') as f:
        json.dump(reference, f)


if __name__ == '__main__':
    main()
