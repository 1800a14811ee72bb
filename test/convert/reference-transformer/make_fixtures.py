"""
Tiny FLUX.1 transformer checkpoints with the real key names and layouts, and reference outputs.

Run from the repository root with Debian's torch 1.13 (`/usr/bin/python3`, no other packages):

    /usr/bin/python3 test/convert/reference-transformer/make_fixtures.py

The model follows black-forest-labs/flux `src/flux/model.py` and `src/flux/modules/layers.py`
(Flux, DoubleStreamBlock, SingleStreamBlock, LastLayer, EmbedND, rope, timestep_embedding) at toy
widths; the diffusers keys follow diffusers' `scripts/convert_flux_to_diffusers.py` (q/k/v split,
norm_out's shift/scale halves swapped). safetensors files are written byte by byte here (no
safetensors package): an 8-byte little-endian header length, the JSON header, the raw tensors.

Writes test/convert/fixtures/transformer/:
- flux-dev-{f32,bf16,f16,fp8}.safetensors  BFL keys, with guidance_in (dev); fp8 is e4m3fn bytes,
  with a per-tensor `.scale_weight` on two weights (ComfyUI's scaled-fp8 form);
- schnell-diffusers/transformer/diffusion_pytorch_model-0000k-of-00002.safetensors + index json:
  diffusers keys, no guidance embedder (schnell), float32;
- e2e/clip_l.safetensors, e2e/t5xxl_fp16.safetensors: random text encoders (HF keys, via
  ../reference-encoders/reference.py) sized to fit flux-dev-*.safetensors and the demo tokenizers
  (vocabularies 323 and 132, 77 CLIP positions), for the end-to-end bundle test;
- reference.json: the inputs, and the outputs of every checkpoint (its weights as stored, widened to
  float32) at native RoPE and at the DyPE ω/mscale written by dype-rope.ts (runtime/dype).
"""
import json
import math
import os
import struct
import subprocess

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
OUT = os.path.join(ROOT, 'test', 'convert', 'fixtures', 'transformer')

# Toy FLUX.1: head dim 32 = axes 4 + 14 + 14 (FLUX.1: 128 = 16 + 56 + 56), two heads.
HIDDEN, HEADS, MLP, IN_CH, CTX, VEC, TIME = 64, 2, 256, 16, 32, 24, 256
AXES, THETA, DEPTH, DEPTH_SINGLE = [4, 14, 14], 10000, 2, 2
HEAD_DIM = HIDDEN // HEADS


# ---------------------------------------------------------------- checkpoint (BFL key names)
def bfl_weights(guidance: bool, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)

    def make(name, shape):
        if name.endswith('.scale'):
            return 1.0 + 0.1 * torch.randn(*shape, generator=g)
        if name.endswith('.bias'):
            return torch.randn(*shape, generator=g) * 0.05
        return torch.randn(*shape, generator=g) / math.sqrt(shape[1])

    return bfl_tensors(guidance, make)


def bfl_tensors(guidance: bool, make, HIDDEN=HIDDEN, MLP=MLP, IN_CH=IN_CH, CTX=CTX, VEC=VEC, DEPTH=DEPTH, DEPTH_SINGLE=DEPTH_SINGLE, HEAD_DIM=HEAD_DIM) -> dict:
    """Every tensor of BFL's Flux (model.py) by key; `make(key, shape)` gives its value."""

    def lin(name, out_f, in_f):
        weights[name + '.weight'] = make(name + '.weight', (out_f, in_f))
        weights[name + '.bias'] = make(name + '.bias', (out_f,))

    def norm(name, dim):
        weights[name] = make(name, (dim,))

    weights = {}
    lin('img_in', HIDDEN, IN_CH)
    lin('time_in.in_layer', HIDDEN, TIME)
    lin('time_in.out_layer', HIDDEN, HIDDEN)
    lin('vector_in.in_layer', HIDDEN, VEC)
    lin('vector_in.out_layer', HIDDEN, HIDDEN)
    if guidance:
        lin('guidance_in.in_layer', HIDDEN, TIME)
        lin('guidance_in.out_layer', HIDDEN, HIDDEN)
    lin('txt_in', HIDDEN, CTX)
    for i in range(DEPTH):
        p = f'double_blocks.{i}.'
        for s in ('img', 'txt'):
            lin(p + f'{s}_mod.lin', 6 * HIDDEN, HIDDEN)
            lin(p + f'{s}_attn.qkv', 3 * HIDDEN, HIDDEN)
            norm(p + f'{s}_attn.norm.query_norm.scale', HEAD_DIM)
            norm(p + f'{s}_attn.norm.key_norm.scale', HEAD_DIM)
            lin(p + f'{s}_attn.proj', HIDDEN, HIDDEN)
            lin(p + f'{s}_mlp.0', MLP, HIDDEN)
            lin(p + f'{s}_mlp.2', HIDDEN, MLP)
    for i in range(DEPTH_SINGLE):
        p = f'single_blocks.{i}.'
        lin(p + 'linear1', 3 * HIDDEN + MLP, HIDDEN)
        lin(p + 'linear2', HIDDEN, HIDDEN + MLP)
        norm(p + 'norm.query_norm.scale', HEAD_DIM)
        norm(p + 'norm.key_norm.scale', HEAD_DIM)
        lin(p + 'modulation.lin', 3 * HIDDEN, HIDDEN)
    lin('final_layer.adaLN_modulation.1', 2 * HIDDEN, HIDDEN)
    lin('final_layer.linear', IN_CH, HIDDEN)
    return weights


# ---------------------------------------------------------------- reference forward (BFL)
def timestep_embedding(t, dim, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope(pos, dim, theta):
    scale = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    omega = 1.0 / (theta ** scale)
    return rope_from_omega(pos, omega, torch.ones_like(omega))


def rope_from_omega(pos, omega, mscale):
    out = torch.einsum('...n,d->...nd', pos.double(), omega.double())
    cos, sin = torch.cos(out) * mscale, torch.sin(out) * mscale
    out = torch.stack([cos, -sin, sin, cos], dim=-1)
    return out.reshape(*out.shape[:-1], 2, 2).float()


def embed_nd(ids, omega=None, mscale=None):
    """EmbedND; with omega/mscale given (one value per frequency, axes concatenated): DyPE's rotation."""
    parts, at = [], 0
    for i, d in enumerate(AXES):
        if omega is None:
            parts.append(rope(ids[..., i], d, THETA))
        else:
            parts.append(rope_from_omega(ids[..., i], omega[at:at + d // 2], mscale[at:at + d // 2]))
        at += d // 2
    return torch.cat(parts, dim=-3).unsqueeze(1)


def apply_rope(xq, xk, freqs_cis):
    xq_ = xq.float().reshape(*xq.shape[:-1], -1, 1, 2)
    xk_ = xk.float().reshape(*xk.shape[:-1], -1, 1, 2)
    xq_out = freqs_cis[..., 0] * xq_[..., 0] + freqs_cis[..., 1] * xq_[..., 1]
    xk_out = freqs_cis[..., 0] * xk_[..., 0] + freqs_cis[..., 1] * xk_[..., 1]
    return xq_out.reshape(*xq.shape).type_as(xq), xk_out.reshape(*xk.shape).type_as(xk)


def attention(q, k, v, pe):
    q, k = apply_rope(q, k, pe)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    x = torch.softmax(scores, dim=-1) @ v
    b, h, l, d = x.shape
    return x.permute(0, 2, 1, 3).reshape(b, l, h * d)


def rms_norm(x, scale):
    rrms = torch.rsqrt(torch.mean(x.float() ** 2, dim=-1, keepdim=True) + 1e-6)
    return (x * rrms) * scale


def layer_norm(x):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), eps=1e-6)


def gelu_tanh(x):
    return torch.nn.functional.gelu(x, approximate='tanh')


def forward(w, img, txt, y, timesteps, guidance, img_ids, txt_ids, omega=None, mscale=None):
    def linear(name, x):
        return x @ w[name + '.weight'].T + w[name + '.bias']

    def mlp_embedder(name, x):
        return linear(name + '.out_layer', torch.nn.functional.silu(linear(name + '.in_layer', x)))

    def modulation(name, vec, n):
        return linear(name, torch.nn.functional.silu(vec))[:, None, :].chunk(n, dim=-1)

    def split_heads(qkv):
        b, l, _ = qkv.shape
        return qkv.reshape(b, l, 3, HEADS, HEAD_DIM).permute(2, 0, 3, 1, 4)

    img = linear('img_in', img)
    vec = mlp_embedder('time_in', timestep_embedding(timesteps, TIME))
    if 'guidance_in.in_layer.weight' in w:
        vec = vec + mlp_embedder('guidance_in', timestep_embedding(guidance, TIME))
    vec = vec + mlp_embedder('vector_in', y)
    txt = linear('txt_in', txt)
    pe = embed_nd(torch.cat((txt_ids, img_ids), dim=1), omega, mscale)
    T = txt.shape[1]

    for i in range(DEPTH):
        p = f'double_blocks.{i}.'
        mods, qkvs = {}, {}
        for s, x in (('img', img), ('txt', txt)):
            m = modulation(p + f'{s}_mod.lin', vec, 6)
            mods[s] = m
            q, k, v = split_heads(linear(p + f'{s}_attn.qkv', (1 + m[1]) * layer_norm(x) + m[0]))
            q = rms_norm(q, w[p + f'{s}_attn.norm.query_norm.scale'])
            k = rms_norm(k, w[p + f'{s}_attn.norm.key_norm.scale'])
            qkvs[s] = (q, k, v)
        q, k, v = (torch.cat((qkvs['txt'][j], qkvs['img'][j]), dim=2) for j in range(3))
        attn = attention(q, k, v, pe)
        outs = {'txt': attn[:, :T], 'img': attn[:, T:]}
        new = {}
        for s, x in (('img', img), ('txt', txt)):
            m = mods[s]
            x = x + m[2] * linear(p + f'{s}_attn.proj', outs[s])
            hidden = (1 + m[4]) * layer_norm(x) + m[3]
            x = x + m[5] * linear(p + f'{s}_mlp.2', gelu_tanh(linear(p + f'{s}_mlp.0', hidden)))
            new[s] = x
        img, txt = new['img'], new['txt']

    x = torch.cat((txt, img), dim=1)
    for i in range(DEPTH_SINGLE):
        p = f'single_blocks.{i}.'
        shift, scale, gate = modulation(p + 'modulation.lin', vec, 3)
        x_mod = (1 + scale) * layer_norm(x) + shift
        qkv, mlp = torch.split(linear(p + 'linear1', x_mod), [3 * HIDDEN, MLP], dim=-1)
        q, k, v = split_heads(qkv)
        q = rms_norm(q, w[p + 'norm.query_norm.scale'])
        k = rms_norm(k, w[p + 'norm.key_norm.scale'])
        attn = attention(q, k, v, pe)
        x = x + gate * linear(p + 'linear2', torch.cat((attn, gelu_tanh(mlp)), dim=2))
    img = x[:, T:]
    shift, scale = linear('final_layer.adaLN_modulation.1', torch.nn.functional.silu(vec)).chunk(2, dim=1)
    img = (1 + scale[:, None, :]) * layer_norm(img) + shift[:, None, :]
    return linear('final_layer.linear', img)


# ---------------------------------------------------------------- diffusers key names
def to_diffusers(w: dict) -> dict:
    out = {}
    ren = {
        'img_in': 'x_embedder', 'txt_in': 'context_embedder', 'final_layer.linear': 'proj_out',
        'time_in.in_layer': 'time_text_embed.timestep_embedder.linear_1', 'time_in.out_layer': 'time_text_embed.timestep_embedder.linear_2',
        'vector_in.in_layer': 'time_text_embed.text_embedder.linear_1', 'vector_in.out_layer': 'time_text_embed.text_embedder.linear_2',
        'guidance_in.in_layer': 'time_text_embed.guidance_embedder.linear_1', 'guidance_in.out_layer': 'time_text_embed.guidance_embedder.linear_2',
    }
    for old, new in ren.items():
        for suffix in ('.weight', '.bias'):
            if old + suffix in w:
                out[new + suffix] = w[old + suffix]
    for suffix in ('.weight', '.bias'):
        shift, scale = w['final_layer.adaLN_modulation.1' + suffix].chunk(2, dim=0)
        out['norm_out.linear' + suffix] = torch.cat([scale, shift], dim=0)
    for i in range(DEPTH):
        p, d = f'double_blocks.{i}.', f'transformer_blocks.{i}.'
        pairs = {
            'img_mod.lin': 'norm1.linear', 'txt_mod.lin': 'norm1_context.linear', 'img_attn.proj': 'attn.to_out.0', 'txt_attn.proj': 'attn.to_add_out',
            'img_mlp.0': 'ff.net.0.proj', 'img_mlp.2': 'ff.net.2', 'txt_mlp.0': 'ff_context.net.0.proj', 'txt_mlp.2': 'ff_context.net.2',
        }
        for old, new in pairs.items():
            for suffix in ('.weight', '.bias'):
                out[d + new + suffix] = w[p + old + suffix]
        for s, names in (('img', ('to_q', 'to_k', 'to_v')), ('txt', ('add_q_proj', 'add_k_proj', 'add_v_proj'))):
            for suffix in ('.weight', '.bias'):
                for name, part in zip(names, w[p + f'{s}_attn.qkv' + suffix].chunk(3, dim=0)):
                    out[d + 'attn.' + name + suffix] = part
        out[d + 'attn.norm_q.weight'] = w[p + 'img_attn.norm.query_norm.scale']
        out[d + 'attn.norm_k.weight'] = w[p + 'img_attn.norm.key_norm.scale']
        out[d + 'attn.norm_added_q.weight'] = w[p + 'txt_attn.norm.query_norm.scale']
        out[d + 'attn.norm_added_k.weight'] = w[p + 'txt_attn.norm.key_norm.scale']
    for i in range(DEPTH_SINGLE):
        p, d = f'single_blocks.{i}.', f'single_transformer_blocks.{i}.'
        for suffix in ('.weight', '.bias'):
            q, k, v, mlp = torch.split(w[p + 'linear1' + suffix], [HIDDEN, HIDDEN, HIDDEN, MLP], dim=0)
            out[d + 'attn.to_q' + suffix], out[d + 'attn.to_k' + suffix], out[d + 'attn.to_v' + suffix] = q, k, v
            out[d + 'proj_mlp' + suffix] = mlp
            out[d + 'proj_out' + suffix] = w[p + 'linear2' + suffix]
            out[d + 'norm.linear' + suffix] = w[p + 'modulation.lin' + suffix]
        out[d + 'attn.norm_q.weight'] = w[p + 'norm.query_norm.scale']
        out[d + 'attn.norm_k.weight'] = w[p + 'norm.key_norm.scale']
    return out


# ---------------------------------------------------------------- storage types
def e4m3fn_table() -> np.ndarray:
    """Value of every float8 e4m3fn byte (0x7f and 0xff are NaN)."""
    values = np.zeros(256, dtype=np.float64)
    for byte in range(256):
        sign = -1.0 if byte & 0x80 else 1.0
        exp, man = (byte >> 3) & 0xF, byte & 0x7
        if exp == 15 and man == 7:
            values[byte] = np.nan
        elif exp == 0:
            values[byte] = sign * (man / 8) * 2.0 ** -6
        else:
            values[byte] = sign * (1 + man / 8) * 2.0 ** (exp - 7)
    return values


E4M3 = e4m3fn_table()


def to_e4m3fn(x: np.ndarray) -> np.ndarray:
    """Round to the nearest e4m3fn value (bytes), saturating at ±448."""
    finite = np.where(np.isnan(E4M3), np.inf, E4M3)
    order = np.argsort(finite)
    sorted_vals = finite[order]
    flat = np.clip(x.astype(np.float64).ravel(), -448, 448)
    idx = np.clip(np.searchsorted(sorted_vals, flat), 1, len(sorted_vals) - 1)
    left, right = sorted_vals[idx - 1], sorted_vals[idx]
    pick = np.where(np.abs(flat - left) <= np.abs(right - flat), idx - 1, idx)
    return order[pick].astype(np.uint8).reshape(x.shape)


def stored(t: torch.Tensor, dtype: str):
    """(safetensors dtype, raw bytes, the value as stored, widened to float32)."""
    if dtype == 'F32':
        return 'F32', t.float().numpy().astype('<f4').tobytes(), t.float()
    if dtype == 'F16':
        h = t.half()
        return 'F16', h.numpy().astype('<f2').tobytes(), h.float()
    if dtype == 'BF16':
        b = t.bfloat16()
        return 'BF16', b.view(torch.int16).numpy().astype('<i2').tobytes(), b.float()
    if dtype == 'F8_E4M3':
        q = to_e4m3fn(t.numpy())
        return 'F8_E4M3', q.tobytes(), torch.from_numpy(E4M3[q].astype(np.float32))
    raise ValueError(dtype)


def write_safetensors(path: str, tensors: dict, metadata=None) -> None:
    """tensors: key → (dtype, shape, bytes). Offsets in key order, like the safetensors package."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header['__metadata__'] = metadata
    for key in sorted(tensors):
        dtype, shape, data = tensors[key]
        header[key] = {'dtype': dtype, 'shape': list(shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(',', ':')).encode()
    raw += b' ' * ((8 - len(raw) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def store_checkpoint(path: str, weights: dict, dtype: str, scaled=()) -> dict:
    """Writes `weights` as `dtype`; returns the weights as a reader widens them to float32."""
    tensors, widened = {}, {}
    for key, t in weights.items():
        if key in scaled:
            scale = float(t.abs().max()) / 448 * 4  # a per-tensor scale, as scaled-fp8 checkpoints carry
            kind, data, value = stored(t / scale, dtype)
            tensors[key] = (kind, t.shape, data)
            scale_key = key[: -len('.weight')] + '.scale_weight'
            tensors[scale_key] = ('F32', (), struct.pack('<f', scale))
            widened[key] = value * torch.tensor(scale, dtype=torch.float32)
        else:
            kind, data, value = stored(t, dtype if t.dim() >= 2 or dtype != 'F8_E4M3' else 'BF16')
            tensors[key] = (kind, t.shape, data)
            widened[key] = value
    write_safetensors(path, tensors, {'format': 'pt'})
    return widened


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    rope_json = subprocess.run(['npx', 'tsx', os.path.join(os.path.dirname(__file__), 'dype-rope.ts'), json.dumps(AXES)],
                               cwd=ROOT, check=True, capture_output=True).stdout
    dype = json.loads(rope_json)
    grid = dype['grid']
    rows, cols, T = grid['height'], grid['width'], grid['textTokens']
    g = torch.Generator().manual_seed(7)
    inputs = {
        'hidden_states': torch.randn(1, rows * cols, IN_CH, generator=g),
        'encoder_hidden_states': torch.randn(1, T, CTX, generator=g),
        'pooled_projections': torch.randn(1, VEC, generator=g),
        'timestep': torch.tensor([dype['t']]),
        'guidance': torch.tensor([3.5]),
    }
    img_ids = torch.zeros(rows * cols, 3)
    for r in range(rows):
        for c in range(cols):
            img_ids[r * cols + c] = torch.tensor([0, r, c])
    txt_ids = torch.zeros(T, 3)

    def run(w, omega=None, mscale=None):
        with torch.no_grad():
            out = forward(w, inputs['hidden_states'], inputs['encoder_hidden_states'], inputs['pooled_projections'],
                          inputs['timestep'], inputs['guidance'], img_ids[None], txt_ids[None],
                          None if omega is None else torch.tensor(omega, dtype=torch.float64),
                          None if mscale is None else torch.tensor(mscale, dtype=torch.float64))
        return [round(float(v), 7) for v in out.flatten()]

    reference = {
        'source': 'test/convert/reference-transformer/make_fixtures.py (torch %s), BFL flux model.py/layers.py at toy widths' % torch.__version__,
        'config': {'hidden': HIDDEN, 'heads': HEADS, 'mlpHidden': MLP, 'inChannels': IN_CH, 'contextDim': CTX, 'vecDim': VEC,
                   'axesDim': AXES, 'theta': THETA, 'depth': DEPTH, 'depthSingle': DEPTH_SINGLE},
        'grid': grid,
        'inputs': {k: [round(float(v), 7) for v in t.flatten()] for k, t in inputs.items()},
        'rope': {'native': dype['native'], 'dype': dype['dype']},
        'outputs': {},
    }
    for k in reference['inputs']:
        inputs[k] = torch.tensor(reference['inputs'][k], dtype=torch.float32).reshape(inputs[k].shape)

    dev = bfl_weights(guidance=True, seed=1)
    scaled = ('img_in.weight', 'final_layer.linear.weight')
    for dtype, name in (('F32', 'f32'), ('BF16', 'bf16'), ('F16', 'f16'), ('F8_E4M3', 'fp8')):
        file = f'flux-dev-{name}.safetensors'
        w = store_checkpoint(os.path.join(OUT, file), dev, dtype, scaled if dtype == 'F8_E4M3' else ())
        reference['outputs'][file] = {'native': run(w), 'dype': run(w, dype['dype']['omega'], dype['dype']['mscale'])}

    schnell = bfl_weights(guidance=False, seed=2)
    diffusers = to_diffusers(schnell)
    folder = os.path.join(OUT, 'schnell-diffusers', 'transformer')
    keys = sorted(diffusers)
    shards = [keys[: len(keys) // 2], keys[len(keys) // 2:]]
    weight_map, total = {}, 0
    for n, shard in enumerate(shards):
        shard_file = f'diffusion_pytorch_model-{n + 1:05d}-of-{len(shards):05d}.safetensors'
        tensors = {}
        for key in shard:
            _, data, _ = stored(diffusers[key], 'F32')
            tensors[key] = ('F32', diffusers[key].shape, data)
            weight_map[key] = shard_file
            total += len(data)
        write_safetensors(os.path.join(folder, shard_file), tensors, {'format': 'pt'})
    with open(os.path.join(folder, 'diffusion_pytorch_model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': total}, 'weight_map': weight_map}, f, indent=2)
    reference['outputs']['schnell-diffusers'] = {'native': run(schnell), 'dype': run(schnell, dype['dype']['omega'], dype['dype']['mscale'])}

    write_e2e_encoders()

    # FLUX.1-dev at its published size (flux/util.py configs['flux-dev']): key → shape only.
    full = bfl_tensors(True, lambda key, shape: list(shape), HIDDEN=3072, MLP=12288, IN_CH=64, CTX=4096, VEC=768, DEPTH=19, DEPTH_SINGLE=38, HEAD_DIM=128)
    with open(os.path.join(OUT, 'flux1-dev-shapes.json'), 'w') as f:
        json.dump(full, f)

    with open(os.path.join(OUT, 'reference.json'), 'w') as f:
        json.dump(reference, f)
    print('wrote', OUT)


def write_e2e_encoders() -> None:
    import importlib.util
    spec = importlib.util.spec_from_file_location('reference_encoders', os.path.join(ROOT, 'test', 'convert', 'reference-encoders', 'reference.py'))
    enc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(enc)
    folder = os.path.join(OUT, 'e2e')
    os.makedirs(folder, exist_ok=True)
    clip = enc.ClipTextModel(vocab=323, width=VEC, heads=2, inner=2 * VEC, layers=1, positions=77)  # head dim 12
    enc.randomize(clip, 5)
    enc.write_safetensors(os.path.join(folder, 'clip_l.safetensors'), enc.state(clip))
    t5 = enc.T5EncoderModel(vocab=132, width=CTX, heads=4, d_kv=8, d_ff=2 * CTX, blocks=1)
    enc.randomize(t5, 6)
    enc.write_safetensors(os.path.join(folder, 't5xxl_fp16.safetensors'), {k: v.half() for k, v in enc.state(t5).items()})


if __name__ == '__main__':
    main()
