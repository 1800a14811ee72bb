"""
Reference implementations of the FLUX text encoders and autoencoder, and the fixtures the converter's
tests compare against: tiny random checkpoints with the real key names, and outputs for fixed inputs.

Written from the published code (read, not copied):
- CLIP-L text encoder: huggingface/transformers src/transformers/models/clip/modeling_clip.py
  (CLIPTextModel: token + position embedding, pre-LN layers with causal self-attention scaled by
  head_dim^-0.5, quick_gelu MLP, final LayerNorm eps 1e-5, pooled output at argmax(input_ids)).
- T5 v1.1 encoder: huggingface/transformers src/transformers/models/t5/modeling_t5.py
  (T5EncoderModel: unscaled embeddings, T5LayerNorm = x·rsqrt(mean(x²)+1e-6)·w, self-attention
  without 1/sqrt(d) scaling plus a bidirectional relative-position bias from block 0 reused by every
  block, gated-GELU (tanh) feed-forward, final layer norm).
- FLUX autoencoder: black-forest-labs/flux src/flux/modules/autoencoder.py (Encoder, Decoder,
  ResnetBlock, AttnBlock, Downsample with (0,1,0,1) zero padding, nearest Upsample, GroupNorm(32,
  eps 1e-6), swish). The scale/shift of AutoEncoder.encode/decode is NOT part of the graphs: the
  pipeline applies it.

Run with Debian's torch (`/usr/bin/python3 test/convert/reference-encoders/reference.py`); it
rewrites every file in test/convert/reference-encoders/fixtures/. safetensors is written by hand
(8-byte little-endian header length, JSON header, raw little-endian tensor bytes).
"""
import json
import math
import os
import struct

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")

# ---------------------------------------------------------------------------------------------
# safetensors and JSON writers


def dtype_tag(t):
    return {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}[t.dtype]


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for key in sorted(tensors):
        t = tensors[key]
        data = tensor_bytes(t)
        header[key] = {"dtype": dtype_tag(t), "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)  # the format pads the header with spaces to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def floats(t):
    """Row-major float32 values as plain floats (shortest repr that round-trips through float32)."""
    return [float(repr(np.float32(v))) for v in t.detach().float().reshape(-1).numpy()]


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def randomize(module, seed):
    """Random weights with realistic magnitudes: N(0, 1/fan_in) matrices, norms near 1, small biases."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if "norm" in name and leaf == "weight":
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif leaf == "bias":
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2 and "embedding" not in name and "shared" not in name:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            else:
                p.copy_(torch.randn(p.shape, generator=g))


# ---------------------------------------------------------------------------------------------
# CLIP text model (HF CLIPTextModel layout)


class ClipAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, mask):
        b, n, w = x.shape
        split = lambda t: t.view(b, n, self.heads, self.head_dim).transpose(1, 2)
        q = split(self.q_proj(x)) * self.head_dim**-0.5
        k, v = split(self.k_proj(x)), split(self.v_proj(x))
        scores = q @ k.transpose(-1, -2) + mask
        out = torch.softmax(scores, dim=-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(b, n, w))


class ClipMlp(nn.Module):
    def __init__(self, width, inner):
        super().__init__()
        self.fc1 = nn.Linear(width, inner)
        self.fc2 = nn.Linear(inner, width)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class ClipLayer(nn.Module):
    def __init__(self, width, heads, inner):
        super().__init__()
        self.self_attn = ClipAttention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = ClipMlp(width, inner)
        self.layer_norm2 = nn.LayerNorm(width, eps=1e-5)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, vocab, width, positions):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Embedding(positions, width)
        self.register_buffer("position_ids", torch.arange(positions).unsqueeze(0))


class ClipEncoder(nn.Module):
    def __init__(self, width, heads, inner, layers):
        super().__init__()
        self.layers = nn.ModuleList([ClipLayer(width, heads, inner) for _ in range(layers)])


class ClipTextTransformer(nn.Module):
    def __init__(self, vocab, width, heads, inner, layers, positions):
        super().__init__()
        self.embeddings = ClipEmbeddings(vocab, width, positions)
        self.encoder = ClipEncoder(width, heads, inner, layers)
        self.final_layer_norm = nn.LayerNorm(width, eps=1e-5)

    def forward(self, ids):
        n = ids.shape[1]
        h = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding(self.embeddings.position_ids[:, :n])
        mask = torch.full((n, n), torch.finfo(torch.float32).min).triu(1)
        for layer in self.encoder.layers:
            h = layer(h, mask)
        last = self.final_layer_norm(h)
        # CLIP-L's config has the legacy eos_token_id 2, so HF pools at argmax(input_ids): the first
        # end-of-text token, which has the largest id in the vocabulary.
        pooled = last[torch.arange(last.shape[0]), ids.argmax(dim=-1)]
        return last, pooled


class ClipTextModel(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.text_model = ClipTextTransformer(**kw)

    def forward(self, ids):
        return self.text_model(ids)


# ---------------------------------------------------------------------------------------------
# T5 encoder (HF T5EncoderModel layout)


def t5_relative_bucket(relative_position, num_buckets=32, max_distance=128):
    """Bidirectional bucket of key_position − query_position, as modeling_t5._relative_position_bucket."""
    num_buckets //= 2
    buckets = (relative_position > 0).to(torch.long) * num_buckets
    n = torch.abs(relative_position)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, n, large)


class T5LayerNorm(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


class T5Attention(nn.Module):
    def __init__(self, width, heads, d_kv, num_buckets, has_bias):
        super().__init__()
        self.heads, self.d_kv, self.num_buckets = heads, d_kv, num_buckets
        inner = heads * d_kv
        self.q = nn.Linear(width, inner, bias=False)
        self.k = nn.Linear(width, inner, bias=False)
        self.v = nn.Linear(width, inner, bias=False)
        self.o = nn.Linear(inner, width, bias=False)
        if has_bias:
            self.relative_attention_bias = nn.Embedding(num_buckets, heads)

    def position_bias(self, n):
        pos = torch.arange(n)
        buckets = t5_relative_bucket(pos[None, :] - pos[:, None], self.num_buckets)
        return self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)  # [1, heads, q, k]

    def forward(self, x, bias):
        b, n, _ = x.shape
        split = lambda t: t.view(b, n, self.heads, self.d_kv).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) + bias  # T5 folds the 1/sqrt(d) scaling into its init
        out = torch.softmax(scores.float(), dim=-1) @ v
        return self.o(out.transpose(1, 2).reshape(b, n, self.heads * self.d_kv))


class T5SelfAttentionLayer(nn.Module):
    def __init__(self, width, heads, d_kv, num_buckets, has_bias):
        super().__init__()
        self.SelfAttention = T5Attention(width, heads, d_kv, num_buckets, has_bias)
        self.layer_norm = T5LayerNorm(width)


class T5DenseGatedAct(nn.Module):
    def __init__(self, width, d_ff):
        super().__init__()
        self.wi_0 = nn.Linear(width, d_ff, bias=False)
        self.wi_1 = nn.Linear(width, d_ff, bias=False)
        self.wo = nn.Linear(d_ff, width, bias=False)

    def forward(self, x):
        g = self.wi_0(x)
        gelu_new = 0.5 * g * (1 + torch.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g.pow(3))))
        return self.wo(gelu_new * self.wi_1(x))


class T5FeedForwardLayer(nn.Module):
    def __init__(self, width, d_ff):
        super().__init__()
        self.DenseReluDense = T5DenseGatedAct(width, d_ff)
        self.layer_norm = T5LayerNorm(width)


class T5Block(nn.Module):
    def __init__(self, width, heads, d_kv, d_ff, num_buckets, has_bias):
        super().__init__()
        self.layer = nn.ModuleList([T5SelfAttentionLayer(width, heads, d_kv, num_buckets, has_bias), T5FeedForwardLayer(width, d_ff)])

    def forward(self, x, bias):
        attn, ff = self.layer
        x = x + attn.SelfAttention(attn.layer_norm(x), bias)
        return x + ff.DenseReluDense(ff.layer_norm(x))


class T5Stack(nn.Module):
    def __init__(self, width, heads, d_kv, d_ff, blocks, num_buckets):
        super().__init__()
        self.block = nn.ModuleList([T5Block(width, heads, d_kv, d_ff, num_buckets, i == 0) for i in range(blocks)])
        self.final_layer_norm = T5LayerNorm(width)


class T5EncoderModel(nn.Module):
    def __init__(self, vocab, width, heads, d_kv, d_ff, blocks, num_buckets=32):
        super().__init__()
        self.shared = nn.Embedding(vocab, width)
        self.encoder = T5Stack(width, heads, d_kv, d_ff, blocks, num_buckets)

    def forward(self, ids):
        h = self.shared(ids)
        bias = self.encoder.block[0].layer[0].SelfAttention.position_bias(ids.shape[1])
        for block in self.encoder.block:
            h = block(h, bias)
        return self.encoder.final_layer_norm(h)


# ---------------------------------------------------------------------------------------------
# FLUX autoencoder (BFL ae.safetensors layout)


def swish(x):
    return x * torch.sigmoid(x)


def group_norm(channels):
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = group_norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        b, c, hh, ww = x.shape
        q, k, v = (m(h).reshape(b, c, hh * ww).transpose(1, 2) for m in (self.q, self.k, self.v))
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1) @ v  # SDPA with one head
        return x + self.proj_out(att.transpose(1, 2).reshape(b, c, hh, ww))


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv2(swish(self.norm2(self.conv1(swish(self.norm1(x))))))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(nn.functional.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    pass


class Encoder(nn.Module):
    def __init__(self, in_ch, ch, ch_mult, num_res_blocks, z_channels):
        super().__init__()
        self.conv_in = nn.Conv2d(in_ch, ch, 3, 1, 1)
        in_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        for i, mult in enumerate(ch_mult):
            level = Level()
            block_in = ch * in_mult[i]
            blocks = []
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(block_in, ch * mult))
                block_in = ch * mult
            level.block = nn.ModuleList(blocks)
            if i != len(ch_mult) - 1:
                level.downsample = Downsample(block_in)
            self.down.append(level)
        self.mid = Level()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            for block in level.block:
                h = block(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, out_ch, ch, ch_mult, num_res_blocks, z_channels):
        super().__init__()
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = Level()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        levels = []
        for i in reversed(range(len(ch_mult))):
            level = Level()
            blocks = []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, ch * ch_mult[i]))
                block_in = ch * ch_mult[i]
            level.block = nn.ModuleList(blocks)
            if i != 0:
                level.upsample = Upsample(block_in)
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, 1, 1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for level in reversed(self.up):
            for block in level.block:
                h = block(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class AutoEncoder(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.encoder = Encoder(kw["in_ch"], kw["ch"], kw["ch_mult"], kw["num_res_blocks"], kw["z_channels"])
        self.decoder = Decoder(kw["out_ch"], kw["ch"], kw["ch_mult"], kw["num_res_blocks"], kw["z_channels"])


# ---------------------------------------------------------------------------------------------
# Fixtures


def state(module):
    return {k: v for k, v in module.state_dict().items()}


def rounded_copy(module, dtype):
    """The module with every parameter rounded through `dtype` (what a cast-on-load computes with)."""
    import copy

    m = copy.deepcopy(module)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(dtype).float())
    return m


def clip_fixture():
    cfg = dict(vocab=100, width=32, heads=2, inner=64, layers=2, positions=16)
    model = ClipTextModel(**cfg)
    randomize(model, 1)
    sd = state(model)
    # ComfyUI's clip_l.safetensors also carries the projection of CLIPTextModelWithProjection; the
    # encoder ignores it (FLUX uses the unprojected pooled output).
    sd["text_projection.weight"] = torch.randn(32, 32, generator=torch.Generator().manual_seed(11)) / math.sqrt(32)
    bos, eos = 98, 99
    # A padded prompt as FLUX's CLIP tokenizer writes it (end-of-text repeated as padding; pooling
    # takes the first), and one that fills all positions.
    cases = {
        "padded": [bos, 5, 17, 42, 7, eos] + [eos] * 10,
        "full": [bos] + [(i * 37) % 97 for i in range(14)] + [eos],
    }
    variants = {"float32": (model, None), "float16": (rounded_copy(model, torch.float16), torch.float16)}
    for name, (m, dtype) in variants.items():
        file = "clip_l.safetensors" if dtype is None else "clip_l_fp16.safetensors"
        write_safetensors(os.path.join(OUT, file), {k: (v if dtype is None or v.dtype != torch.float32 else v.to(dtype)) for k, v in sd.items()})
        out = {"checkpoint": file, "config": cfg | {"head_dim": 16, "bos": bos, "eos": eos}, "cases": {}}
        with torch.no_grad():
            for case, ids in cases.items():
                last, pooled = m(torch.tensor([ids]))
                out["cases"][case] = {"input_ids": ids, "last_hidden_state": floats(last), "pooler_output": floats(pooled)}
        write_json(os.path.join(OUT, file.replace(".safetensors", ".json")), out)


def t5_fixture():
    cfg = dict(vocab=100, width=32, heads=4, d_kv=8, d_ff=64, blocks=2)
    model = T5EncoderModel(**cfg)
    randomize(model, 2)
    sd = state(model)
    # HF ties encoder.embed_tokens to shared; checkpoints store the table once, as shared.weight.
    cases = {
        "short": [(i * 13 + 3) % 100 for i in range(11)] + [1],
        # Long enough that relative distances pass max_distance 128 (buckets saturate).
        "long": [(i * 29 + 7) % 100 for i in range(139)] + [1],
    }
    variants = {"float32": (model, None), "bfloat16": (rounded_copy(model, torch.bfloat16), torch.bfloat16)}
    for name, (m, dtype) in variants.items():
        file = "t5xxl.safetensors" if dtype is None else "t5xxl_bf16.safetensors"
        write_safetensors(os.path.join(OUT, file), {k: (v if dtype is None else v.to(dtype)) for k, v in sd.items()})
        out = {"checkpoint": file, "config": cfg, "cases": {}}
        with torch.no_grad():
            for case, ids in cases.items():
                out["cases"][case] = {"input_ids": ids, "last_hidden_state": floats(m(torch.tensor([ids])))}
        if dtype is None:
            rel = torch.arange(-300, 301)
            out["relative_buckets"] = {"from": -300, "num_buckets": 32, "max_distance": 128, "buckets": t5_relative_bucket(rel).tolist()}
        write_json(os.path.join(OUT, file.replace(".safetensors", ".json")), out)


def vae_fixture():
    # ch_mult (2, 1): both the encoder and the decoder change width inside a level, so nin_shortcut
    # appears in both, and 64-channel norms put two channels in each of the 32 groups.
    cfg = dict(in_ch=3, out_ch=3, ch=32, ch_mult=(2, 1), num_res_blocks=1, z_channels=16)
    model = AutoEncoder(**cfg)
    randomize(model, 3)
    write_safetensors(os.path.join(OUT, "ae.safetensors"), state(model))
    g = torch.Generator().manual_seed(4)
    latent = torch.randn(1, 16, 6, 5, generator=g)  # non-square, so a height/width swap shows
    image = torch.rand(1, 3, 12, 16, generator=g) * 2 - 1
    with torch.no_grad():
        decoded = model.decoder(latent)
        moments = model.encoder(image)
    out = {
        "checkpoint": "ae.safetensors",
        "config": cfg,
        "decode": {"latent_shape": list(latent.shape), "latent": floats(latent), "sample_shape": list(decoded.shape), "sample": floats(decoded)},
        "encode": {
            "sample_shape": list(image.shape),
            "sample": floats(image),
            # DiagonalGaussian: the encoder's 2·z channels are mean ‖ logvar.
            "latent_parameters_shape": list(moments.shape),
            "latent_parameters": floats(moments),
        },
    }
    write_json(os.path.join(OUT, "ae.json"), out)


def full_size_shapes():
    """
    Key → shape of the published full-size models (no weights: parameters are made on the meta
    device), to check that the converter derives the published configs and builds valid graphs.
    Configs: openai/clip-vit-large-patch14 text model, google/t5-v1_1-xxl encoder, FLUX.1 ae.
    """
    empty = torch.empty
    torch.empty = lambda *a, **k: empty(*a, **{**k, "device": "meta"})
    try:
        clip = ClipTextModel(vocab=49408, width=768, heads=12, inner=3072, layers=12, positions=77)
        t5 = T5EncoderModel(vocab=32128, width=4096, heads=64, d_kv=64, d_ff=10240, blocks=24)
        ae = AutoEncoder(in_ch=3, out_ch=3, ch=128, ch_mult=(1, 2, 4, 4), num_res_blocks=2, z_channels=16)
    finally:
        torch.empty = empty
    shapes = lambda m: {k: list(v.shape) for k, v in m.state_dict().items()}
    write_json(os.path.join(OUT, "full-size-shapes.json"), {"clip_l": shapes(clip), "t5xxl": shapes(t5), "ae": shapes(ae)})


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    vae_fixture()
    clip_fixture()
    t5_fixture()
    full_size_shapes()
    print("\n".join(f"{f}: {os.path.getsize(os.path.join(OUT, f))} bytes" for f in sorted(os.listdir(OUT))))
