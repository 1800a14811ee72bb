"""
A tiny Z-Image (NextDiT) transformer with ComfyUI's key names and bf16 storage, and reference outputs.

Run from the repository root with Debian's torch 1.13 (`/usr/bin/python3`, no other packages):

    /usr/bin/python3 test/convert/reference-zimage/make_fixtures.py

The forward pass is written from Tongyi-MAI/Z-Image `src/zimage/transformer.py`
(ZImageTransformer2DModel: patchify_and_embed, TimestepEmbedder, ZImageTransformerBlock,
FinalLayer, RopeEmbedder) and `src/config/model.py` (SEQ_MULTI_OF 32, RoPE θ 256 over axes
(32, 48, 48), ADALN_EMBED_DIM 256); the key names are those of ComfyUI's loader for the same model
(comfy/ldm/lumina/model.py with z_image_modulation: `attention.qkv` stacking q, k, v,
`attention.out`, `attention.{q,k}_norm`, `feed_forward.w1/w2/w3`, `adaLN_modulation.0`,
`t_embedder.mlp.0/2`, `cap_embedder.0/1`, `final_layer.{linear,adaLN_modulation.1}`,
`x_pad_token`, `cap_pad_token`). The sampler step follows `src/zimage/scheduler.py`
(FlowMatchEulerDiscreteScheduler with a static shift, sigma_min 0) and `src/zimage/pipeline.py`
(the model gets t = (1000 − timestep)/1000 = 1 − σ, and the Euler step uses −output).

The caption comes from the text path of `src/zimage/pipeline.py`: the prompt in Qwen3's chat
template with enable_thinking=True (which renders no think block), tokenized, right-padded to 512
under an attention mask, `hidden_states[-2]` of the Qwen3 encoder, and only the rows the mask keeps.
The encoder and tokenizer are FLUX.2 [klein]'s tiny stand-ins (test/convert/reference-flux2: the same
qwen_3_4b.safetensors file serves both families), run by that script's Qwen3 reference.

Sizes: the real head dim (128 = 32 + 48 + 48) with two heads; one block of each kind (noise
refiner, context refiner, main layer) keeps the bf16 file under 2 MB. The real model has 2, 2 and
30: z-image-turbo-shapes.json holds its key → shape table for the full-size graph test. The caption
width is the tiny Qwen3's 16 (Qwen3-4B's is 2560).

Writes test/convert/reference-zimage/fixtures/:
- z_image_turbo_bf16.safetensors  ComfyUI keys, bf16 (the form of Comfy-Org's split file);
- reference.json  the prompt's ids and caption features; inputs and outputs. The outputs are the model's own (Tongyi's convention: not
  negated, latents [C, H, W]) for native RoPE (Tongyi's precomputed tables), DyPE ω/mscale from
  runtime/dype (dype-rope.ts) and distinct per-axis ω/mscale; one case whose sequences need no pad
  rows; and one Euler step of the 8-step, shift-3 schedule;
- z-image-turbo-shapes.json  every key of the published model (dim 3840, 30 layers) with its shape;
- e2e/ae.safetensors  a tiny FLUX.1-structured AE with 32 px per latent pixel, for the
  end-to-end bundle (with ../../reference-flux2/fixtures/qwen_3_4b.safetensors and its tokenizer).
"""
import importlib.util
import json
import math
import os
import subprocess

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
OUT = os.path.join(HERE, 'fixtures')

# The published constants (src/config/model.py) and toy widths around the real head dim.
SEQ_MULTI_OF = 32
THETA, AXES, AXES_LENS = 256.0, [32, 48, 48], [1536, 512, 512]
FREQ_DIM, MAX_PERIOD, T_SCALE = 256, 10000, 1000.0
NORM_EPS = 1e-5
HEAD_DIM, HEADS = 128, 2
DIM = HEAD_DIM * HEADS
FFN, CAP_DIM, T_HIDDEN, ADALN = 32, 16, 32, 32
IN_CH, PATCH = 16, 2
COUNTS = {'noise_refiner': 1, 'context_refiner': 1, 'layers': 1}


# Qwen3's chat template for one user message, add_generation_prompt=True, enable_thinking=True.
TEMPLATE = '<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n'
PROMPT = 'a cat on a mat'
MAX_SEQUENCE_LENGTH = 512
KLEIN = os.path.join(ROOT, 'test', 'convert', 'reference-flux2')


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- checkpoint (ComfyUI key names)
def tensors(make, dim=DIM, head_dim=HEAD_DIM, ffn=FFN, cap_dim=CAP_DIM, t_hidden=T_HIDDEN, adaln=ADALN, counts=COUNTS):
    """Every tensor of the model by key; `make(key, shape)` gives its value."""
    w = {}

    def lin(name, out_f, in_f, bias=True):
        w[name + '.weight'] = make(name + '.weight', (out_f, in_f))
        if bias:
            w[name + '.bias'] = make(name + '.bias', (out_f,))

    def norm(name, n):
        w[name + '.weight'] = make(name + '.weight', (n,))

    lin('x_embedder', dim, PATCH * PATCH * IN_CH)
    norm('cap_embedder.0', cap_dim)
    lin('cap_embedder.1', dim, cap_dim)
    lin('t_embedder.mlp.0', t_hidden, FREQ_DIM)
    lin('t_embedder.mlp.2', adaln, t_hidden)
    w['x_pad_token'] = make('x_pad_token', (1, dim))
    w['cap_pad_token'] = make('cap_pad_token', (1, dim))
    for group, count in counts.items():
        for i in range(count):
            p = f'{group}.{i}.'
            lin(p + 'attention.qkv', 3 * dim, dim, bias=False)
            lin(p + 'attention.out', dim, dim, bias=False)
            norm(p + 'attention.q_norm', head_dim)
            norm(p + 'attention.k_norm', head_dim)
            lin(p + 'feed_forward.w1', ffn, dim, bias=False)
            lin(p + 'feed_forward.w2', dim, ffn, bias=False)
            lin(p + 'feed_forward.w3', ffn, dim, bias=False)
            for n in ('attention_norm1', 'attention_norm2', 'ffn_norm1', 'ffn_norm2'):
                norm(p + n, dim)
            if group != 'context_refiner':
                lin(p + 'adaLN_modulation.0', 4 * dim, adaln)
    lin('final_layer.linear', PATCH * PATCH * IN_CH, dim)
    lin('final_layer.adaLN_modulation.1', dim, adaln)
    return w


def random_weights(seed):
    g = torch.Generator().manual_seed(seed)

    def make(key, shape):
        if key.endswith('_token'):
            return torch.randn(*shape, generator=g)
        if len(shape) == 1 and not key.endswith('.bias'):
            return 1.0 + 0.1 * torch.randn(*shape, generator=g)  # RMSNorm weights
        if key.endswith('.bias'):
            return 0.05 * torch.randn(*shape, generator=g)
        return torch.randn(*shape, generator=g) / math.sqrt(shape[1])

    return tensors(make)


# ---------------------------------------------------------------- reference forward (Tongyi's transformer.py)
def rms_norm(x, weight):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS) * weight


def timestep_embedding(t):
    half = FREQ_DIM // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def native_freqs_cis(ids):
    """RopeEmbedder: per axis, a table of polar(1, pos·θ^(−2j/d)) for every position, gathered by id."""
    parts = []
    for axis, (d, length) in enumerate(zip(AXES, AXES_LENS)):
        freqs = 1.0 / (THETA ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        angles = torch.outer(torch.arange(length, dtype=torch.float64), freqs).float()
        table = torch.polar(torch.ones_like(angles), angles)
        parts.append(table[ids[:, axis].long()])
    return torch.cat(parts, dim=-1)


def omega_freqs_cis(ids, omega, mscale):
    """The same rotation from per-frequency ω and mscale (axes concatenated), as DyPE feeds it."""
    positions = []
    for axis, d in enumerate(AXES):
        positions.append(ids[:, axis:axis + 1].double().expand(-1, d // 2))
    angles = torch.cat(positions, dim=-1) * omega
    return torch.complex((torch.cos(angles) * mscale).float(), (torch.sin(angles) * mscale).float())


def apply_rotary(x, freqs_cis):
    """x [S, H, hd]: each pair (x[2i], x[2i+1]) is one complex number, multiplied by freqs_cis [S, hd/2]."""
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * freqs_cis[:, None, :]).flatten(2)


def block(w, p, x, freqs_cis, adaln=None):
    def attention(h):
        q, k, v = (h @ w[p + 'attention.qkv.weight'].T).chunk(3, dim=-1)
        q, k, v = (t.reshape(t.shape[0], HEADS, HEAD_DIM) for t in (q, k, v))
        q = apply_rotary(rms_norm(q, w[p + 'attention.q_norm.weight']), freqs_cis)
        k = apply_rotary(rms_norm(k, w[p + 'attention.k_norm.weight']), freqs_cis)
        q, k, v = (t.transpose(0, 1) for t in (q, k, v))  # [H, S, hd]; no mask: pad rows take part
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(HEAD_DIM)
        out = (torch.softmax(scores, dim=-1) @ v).transpose(0, 1).reshape(x.shape[0], DIM)
        return out @ w[p + 'attention.out.weight'].T

    def feed_forward(h):
        w1, w2, w3 = (w[p + f'feed_forward.{n}.weight'] for n in ('w1', 'w2', 'w3'))
        return (torch.nn.functional.silu(h @ w1.T) * (h @ w3.T)) @ w2.T

    norm = lambda name, h: rms_norm(h, w[p + name + '.weight'])
    if adaln is None:
        x = x + norm('attention_norm2', attention(norm('attention_norm1', x)))
        return x + norm('ffn_norm2', feed_forward(norm('ffn_norm1', x)))
    mod = adaln @ w[p + 'adaLN_modulation.0.weight'].T + w[p + 'adaLN_modulation.0.bias']
    scale_msa, gate_msa, scale_mlp, gate_mlp = mod.chunk(4, dim=-1)
    x = x + gate_msa.tanh() * norm('attention_norm2', attention(norm('attention_norm1', x) * (1 + scale_msa)))
    return x + gate_mlp.tanh() * norm('ffn_norm2', feed_forward(norm('ffn_norm1', x) * (1 + scale_mlp)))


def forward(w, image, t, cap_feats, rope=None):
    """image [C, H, W] latent, t = 1 − σ ([1]), cap_feats [L, cap_dim] → the model's output [C, H, W].
    rope: None (native tables) or (omega, mscale) float64 tensors of Σ axes / 2 values."""
    lin = lambda name, x: x @ w[name + '.weight'].T + w[name + '.bias']
    C, H, W = image.shape
    ht, wt = H // PATCH, W // PATCH
    x = image.view(C, ht, PATCH, wt, PATCH).permute(1, 3, 2, 4, 0).reshape(ht * wt, PATCH * PATCH * C)
    n, length = x.shape[0], cap_feats.shape[0]
    pad_x, pad_cap = (-n) % SEQ_MULTI_OF, (-length) % SEQ_MULTI_OF
    cap_total = length + pad_cap

    cap_ids = torch.zeros(cap_total, 3, dtype=torch.int64)
    cap_ids[:, 0] = torch.arange(1, cap_total + 1)
    img_ids = torch.zeros(n + pad_x, 3, dtype=torch.int64)  # pad rows stay at (0, 0, 0)
    img_ids[:n, 0] = cap_total + 1
    img_ids[:n, 1] = torch.arange(ht).repeat_interleave(wt)
    img_ids[:n, 2] = torch.arange(wt).repeat(ht)
    freqs = (lambda ids: native_freqs_cis(ids)) if rope is None else (lambda ids: omega_freqs_cis(ids, *rope))
    x_freqs, cap_freqs = freqs(img_ids), freqs(cap_ids)

    t_freq = timestep_embedding(t * T_SCALE)
    adaln = lin('t_embedder.mlp.2', torch.nn.functional.silu(lin('t_embedder.mlp.0', t_freq)))

    x = torch.cat([lin('x_embedder', x), w['x_pad_token'].expand(pad_x, -1)])
    for i in range(COUNTS['noise_refiner']):
        x = block(w, f'noise_refiner.{i}.', x, x_freqs, adaln)
    cap = lin('cap_embedder.1', rms_norm(cap_feats, w['cap_embedder.0.weight']))
    cap = torch.cat([cap, w['cap_pad_token'].expand(pad_cap, -1)])
    for i in range(COUNTS['context_refiner']):
        cap = block(w, f'context_refiner.{i}.', cap, cap_freqs)

    unified = torch.cat([x, cap])  # Tongyi's order: image rows, then caption rows
    unified_freqs = torch.cat([x_freqs, cap_freqs])
    for i in range(COUNTS['layers']):
        unified = block(w, f'layers.{i}.', unified, unified_freqs, adaln)

    scale = 1 + lin('final_layer.adaLN_modulation.1', torch.nn.functional.silu(adaln))
    out = lin('final_layer.linear', torch.nn.functional.layer_norm(unified, (DIM,), eps=1e-6) * scale)
    out = out[:n].view(ht, wt, PATCH, PATCH, C).permute(4, 0, 2, 1, 3).reshape(C, H, W)
    return out


# ---------------------------------------------------------------- the caption (Tongyi's pipeline.py text path)
def read_safetensors(path):
    with open(path, 'rb') as f:
        size = int.from_bytes(f.read(8), 'little')
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for key, t in header.items():
        if key == '__metadata__':
            continue
        start, end = t['data_offsets']
        assert t['dtype'] == 'BF16', (key, t['dtype'])
        raw = np.frombuffer(data[start:end], dtype='<i2').copy()
        out[key] = torch.from_numpy(raw).view(torch.bfloat16).float().reshape(t['shape'])
    return out


def encode_prompt(klein, prompt):
    """(ids of the real tokens, caption features [L, width]) as the Z-Image pipeline computes them."""
    with open(os.path.join(KLEIN, 'fixtures', 'tokenizer', 'tokenizer.json')) as f:
        tok = json.load(f)
    added = {t['content']: t['id'] for t in tok['added_tokens']}
    ids = klein.tokenize(TEMPLATE.format(prompt=prompt), tok['model']['vocab'], added)[:MAX_SEQUENCE_LENGTH]
    real = len(ids)
    padded = ids + [added['<|endoftext|>']] * (MAX_SEQUENCE_LENGTH - real)
    mask = [1] * real + [0] * (MAX_SEQUENCE_LENGTH - real)
    weights = read_safetensors(os.path.join(KLEIN, 'fixtures', 'qwen_3_4b.safetensors'))
    model = klein.Qwen3(klein.QWEN, weights['model.embed_tokens.weight'].shape[0])
    model.load_state_dict(weights)
    with torch.no_grad():
        states = model.hidden_states(padded, mask)
    return ids, states[-2][torch.tensor(mask, dtype=torch.bool)]


# ---------------------------------------------------------------- the sampler (Tongyi's scheduler.py + pipeline.py)
def turbo_sigmas(steps=8, shift=3.0):
    """set_timesteps with sigma_max 1, sigma_min 0 (the pipeline sets it), a static shift, then the final 0."""
    timesteps = np.linspace(1000.0, 0.0, steps + 1)[:-1]
    sigmas = timesteps / 1000.0
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return torch.cat([torch.from_numpy(sigmas).float(), torch.zeros(1)])


def euler_step(w, latents, cap_feats, sigmas, index):
    timestep = sigmas[index] * 1000
    t = (1000 - timestep) / 1000  # what the pipeline hands the model
    noise_pred = -forward(w, latents, t.reshape(1), cap_feats)
    return latents + (sigmas[index + 1] - sigmas[index]) * noise_pred


# ---------------------------------------------------------------- fixtures
def floats(t):
    return [round(float(v), 7) for v in t.flatten()]


def main():
    enc = load_module('reference_encoders', os.path.join(ROOT, 'test', 'convert', 'reference-encoders', 'reference.py'))
    klein = load_module('reference_flux2', os.path.join(KLEIN, 'make_fixtures.py'))
    prompt_ids, caption = encode_prompt(klein, PROMPT)
    assert caption.shape[1] == CAP_DIM, caption.shape
    os.makedirs(OUT, exist_ok=True)
    rope_json = subprocess.run(['npx', 'tsx', os.path.join(HERE, 'dype-rope.ts')], cwd=ROOT, check=True, capture_output=True).stdout
    dype = json.loads(rope_json)
    sigma = dype['sigma']

    weights = {k: v.bfloat16() for k, v in random_weights(19).items()}
    enc.write_safetensors(os.path.join(OUT, 'z_image_turbo_bf16.safetensors'), weights)
    w = {k: v.float() for k, v in weights.items()}  # what the converted graph computes with

    g = torch.Generator().manual_seed(23)
    grid = {'height': dype['grid']['height'], 'width': dype['grid']['width'], 'textTokens': caption.shape[0]}
    padded = {'grid': grid, 'latents': torch.randn(IN_CH, 2 * grid['height'], 2 * grid['width'], generator=g), 'caption': caption}
    aligned = {'grid': {'height': 4, 'width': 8, 'textTokens': 32}, 'latents': torch.randn(IN_CH, 8, 16, generator=g),
               'caption': torch.randn(32, CAP_DIM, generator=g)}
    for case in (padded, aligned):  # the stored inputs, exactly as the test reads them
        for key in ('latents', 'caption'):
            case[key] = torch.tensor(floats(case[key]), dtype=torch.float32).reshape(case[key].shape)

    # Distinct ω and mscale on every axis, the caption's axis 0 included: each frequency must read its own id column.
    axes_omega = torch.cat([torch.rand(d // 2, generator=g, dtype=torch.float64) * (0.3 + a) for a, d in enumerate(AXES)])
    axes_mscale = torch.cat([torch.full((d // 2,), m, dtype=torch.float64) for d, m in zip(AXES, (1.05, 1.2, 0.9))])
    axes_rope = {'omega': floats(axes_omega), 'mscale': floats(axes_mscale)}
    as_rope = lambda r: (torch.tensor(r['omega'], dtype=torch.float64), torch.tensor(r['mscale'], dtype=torch.float64))

    t = torch.tensor([1 - sigma], dtype=torch.float32)
    with torch.no_grad():
        run = lambda case, rope=None: floats(forward(w, case['latents'], t, case['caption'], rope))
        outputs = {
            'native': run(padded),
            'dype': run(padded, as_rope(dype['dype'])),
            'axes': run(padded, as_rope(axes_rope)),
            'aligned': run(aligned),
        }
        sigmas = turbo_sigmas()
        step_index = 2
        stepped = euler_step(w, padded['latents'], padded['caption'], sigmas, step_index)

    reference = {
        'source': 'test/convert/reference-zimage/make_fixtures.py (torch %s): Tongyi-MAI/Z-Image transformer.py, scheduler.py, '
                  'pipeline.py at toy widths, ComfyUI key names' % torch.__version__,
        'config': {'hidden': DIM, 'heads': HEADS, 'headDim': HEAD_DIM, 'mlpHidden': FFN, 'capDim': CAP_DIM, 'adalnDim': ADALN,
                   'timeHidden': T_HIDDEN, 'inChannels': PATCH * PATCH * IN_CH, 'axesDim': AXES, 'theta': THETA,
                   'noiseRefiners': COUNTS['noise_refiner'], 'contextRefiners': COUNTS['context_refiner'], 'depth': COUNTS['layers']},
        'sigma': sigma,
        'text': {'prompt': PROMPT, 'template': TEMPLATE, 'inputIds': prompt_ids, 'hiddenState': -2, 'caption': floats(caption)},
        'cases': {name: {'grid': case['grid'], 'latents': floats(case['latents']), 'caption': floats(case['caption'])}
                  for name, case in (('padded', padded), ('aligned', aligned))},
        'rope': {'dype': dype['dype'], 'axes': axes_rope, 'dypeOptions': dype['options']},
        'outputs': outputs,
        'euler': {'steps': 8, 'shift': 3.0, 'sigmas': floats(sigmas), 'index': step_index, 'next': floats(stepped)},
    }
    with open(os.path.join(OUT, 'reference.json'), 'w') as f:
        json.dump(reference, f)

    # A FLUX.1-structured AE for the end-to-end bundle: 16 latent channels like FLUX.1's
    # ae.safetensors, but six levels (32 px per latent pixel) so that a 4096×2304 image is 64×36
    # tokens. Its decoder has one ResnetBlock per level (num_res_blocks 0), the least a
    # full-resolution decode can cost; its encoder has one per level (an encoder level needs a block).
    shape = dict(in_ch=3, out_ch=3, ch=32, ch_mult=(1, 1, 1, 1, 1, 1), z_channels=IN_CH)
    decoder = enc.AutoEncoder(num_res_blocks=0, **shape)
    encoder = enc.AutoEncoder(num_res_blocks=1, **shape)
    enc.randomize(decoder, 29)
    enc.randomize(encoder, 31)
    ae = {k: v for k, v in enc.state(decoder).items() if k.startswith('decoder.')}
    ae.update({k: v for k, v in enc.state(encoder).items() if k.startswith('encoder.')})
    os.makedirs(os.path.join(OUT, 'e2e'), exist_ok=True)
    enc.write_safetensors(os.path.join(OUT, 'e2e', 'ae.safetensors'), {k: v.bfloat16() for k, v in ae.items()})

    # Z-Image-Turbo at its published size (src/config/model.py; FFN int(3840 / 3 * 8), t_embedder mid 1024).
    full = tensors(lambda key, shape: list(shape), dim=3840, head_dim=128, ffn=10240, cap_dim=2560, t_hidden=1024, adaln=256,
                   counts={'noise_refiner': 2, 'context_refiner': 2, 'layers': 30})
    with open(os.path.join(OUT, 'z-image-turbo-shapes.json'), 'w') as f:
        json.dump(full, f)
    print('wrote', OUT)


if __name__ == '__main__':
    main()
