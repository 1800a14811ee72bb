"""
Tiny FLUX.2 [klein] checkpoints with the real key names and dtypes, a tiny Qwen tokenizer, and
torch reference outputs.

Run from the repository root with Debian's torch 1.13 (`/usr/bin/python3`, no other packages):

    /usr/bin/python3 test/convert/reference-flux2/make_fixtures.py

Written from the public code (facts, not text):
- the transformer: black-forest-labs/flux2 `src/flux2/model.py` (Flux2, DoubleStreamBlock,
  SingleStreamBlock, Modulation shared by all blocks, SwiGLU MLPs, no linear biases, 4-axis RoPE
  with θ 2000). klein has no guidance embedder (antirez/flux2.c loads only the timestep embedder).
  ComfyUI's diffusion-model file keeps BFL's keys with no prefix;
- the text encoder: transformers `models/qwen3/modeling_qwen3.py` (GQA, per-head q/k RMSNorm
  before RoPE, rotate-half RoPE with θ 1e6, SwiGLU MLP, eps 1e-6) and flux2 `text_encoder.py`
  (Qwen3Embedder: chat template with the think block left empty, right-padded to 512 under an
  attention mask, hidden_states 9, 18, 27 stacked and flattened per token). The file users have
  (ComfyUI's qwen_3_4b.safetensors) has `model.layers.N…` keys and no lm_head;
- the tokenizer: Qwen2/Qwen3's tokenizer.json layout (NFC, the Split regex, byte-level BPE, added
  special tokens), and a byte-level BPE written here to compute the expected ids;
- the VAE: flux2 `src/flux2/autoencoder.py` (FLUX.1's Encoder/Decoder, plus quant_conv after the
  encoder and post_quant_conv before the decoder, 32 latent channels, and a
  BatchNorm2d(4·z, eps 1e-4, affine=False) over the 2×2-patchified latent).

Toy sizes keep the committed fixtures small; the architecture and the key names are the real ones.
Writes test/convert/reference-flux2/fixtures/.
"""
import json
import math
import os
import re
import struct
import subprocess
import sys
import unicodedata

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
OUT = os.path.join(HERE, "fixtures")
sys.path.insert(0, os.path.join(HERE, "..", "reference-encoders"))
import reference as encoders  # noqa: E402  (safetensors writer, random init, FLUX.1's VAE blocks)
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("flux1_fixtures", os.path.join(HERE, "..", "reference-transformer", "make_fixtures.py"))
flux1 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flux1)  # fp8 e4m3fn rounding and the (dtype, shape, bytes) safetensors writer

write_safetensors, floats, write_json, randomize = encoders.write_safetensors, encoders.floats, encoders.write_json, encoders.randomize

# ------------------------------------------------------------------------------------- tokenizer
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK = ["<think>", "</think>"]
# Qwen2/Qwen3's pre-tokenizer pattern, as their tokenizer.json has it.
QWEN_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# The same for ASCII text with Python's re (no \p classes): the prompts here are ASCII.
ASCII_PATTERN = QWEN_PATTERN.replace(r"\p{L}+", "[A-Za-z]+").replace(r"|\p{N}|", "|[0-9]|").replace(r"\p{L}", "A-Za-z").replace(r"\p{N}", "0-9")
MERGES = [("i", "n"), ("in", "k"), ("Ċ", "Ċ"), ("a", "t"), ("c", "at"), ("Ġ", "cat"), ("Ġ", "a"), ("u", "s"), ("e", "r"), ("us", "er"), ("Ġ", "m"), ("Ġm", "at"), ("i", "s"), ("o", "n"), ("Ġ", "on"), ("t", "h"), ("th", "ink")]
MAX_LENGTH = 512
# What Qwen3's chat template renders for one user message with add_generation_prompt=True and
# enable_thinking=False.
TEMPLATE = "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def bytes_to_unicode():
    """GPT-2's reversible byte → printable character map used by byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def make_vocab():
    """The 256 byte characters, then one token per merge."""
    byte_chars = bytes_to_unicode()
    vocab = {byte_chars[b]: i for i, b in enumerate(sorted(byte_chars))}
    for a, b in MERGES:
        vocab.setdefault(a + b, len(vocab))
    return vocab


def bpe(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get((parts[i], parts[i + 1]), math.inf), i) for i in range(len(parts) - 1)]
        rank, i = min(pairs)
        if rank == math.inf:
            break
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2 :]
    return parts


def tokenize(text, vocab, added):
    """Added tokens split the text first; each piece is NFC'd, regex-split, byte-mapped, BPE'd."""
    ranks = {pair: r for r, pair in enumerate(MERGES)}
    byte_chars = bytes_to_unicode()
    ids = []
    pattern = "(" + "|".join(re.escape(t) for t in sorted(added, key=len, reverse=True)) + ")"
    for piece in re.split(pattern, text):
        if not piece:
            continue
        if piece in added:
            ids.append(added[piece])
            continue
        for word in re.findall(ASCII_PATTERN, unicodedata.normalize("NFC", piece)):
            mapped = "".join(byte_chars[b] for b in word.encode("utf-8"))
            ids.extend(vocab[p] for p in bpe(mapped, ranks))
    return ids


def tokenizer_fixture():
    vocab = make_vocab()
    added = {t: len(vocab) + i for i, t in enumerate(SPECIAL + THINK)}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": added[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": t in SPECIAL}
            for t in SPECIAL + THINK
        ],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": QWEN_PATTERN}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            ],
        },
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in MERGES],
        },
    }
    config = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "model_max_length": 131072, "tokenizer_class": "Qwen2Tokenizer", "padding_side": "right"}
    folder = os.path.join(OUT, "tokenizer")
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "tokenizer.json"), tokenizer)
    write_json(os.path.join(folder, "tokenizer_config.json"), config)

    cases = {}
    for name, prompt in {"short": "a cat on a mat", "empty": "", "long": " ".join(["a cat"] * 300)}.items():
        ids = tokenize(TEMPLATE.format(prompt=prompt), vocab, added)
        ids = ids[:MAX_LENGTH]  # truncation=True: the end is cut, nothing is put back
        mask = [1] * len(ids) + [0] * (MAX_LENGTH - len(ids))
        cases[name] = {"prompt": prompt, "input_ids": ids + [added["<|endoftext|>"]] * (MAX_LENGTH - len(ids)), "attention_mask": mask}
    return {"vocab_size": len(vocab) + len(added), "pad_id": added["<|endoftext|>"], "max_length": MAX_LENGTH, "cases": cases}


# ------------------------------------------------------------------------------------- Qwen3
QWEN = dict(hidden=16, heads=2, kv_heads=1, head_dim=8, intermediate=32, layers=28, eps=1e-6, theta=1_000_000.0)
KLEIN_LAYERS = [9, 18, 27]


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Qwen3Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, hd = c["hidden"], c["head_dim"]
        self.self_attn = nn.Module()
        a = self.self_attn
        a.q_proj = nn.Linear(d, c["heads"] * hd, bias=False)
        a.k_proj = nn.Linear(d, c["kv_heads"] * hd, bias=False)
        a.v_proj = nn.Linear(d, c["kv_heads"] * hd, bias=False)
        a.o_proj = nn.Linear(c["heads"] * hd, d, bias=False)
        a.q_norm = RMSNorm(hd, c["eps"])
        a.k_norm = RMSNorm(hd, c["eps"])
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(d, c["intermediate"], bias=False)
        self.mlp.up_proj = nn.Linear(d, c["intermediate"], bias=False)
        self.mlp.down_proj = nn.Linear(c["intermediate"], d, bias=False)
        self.input_layernorm = RMSNorm(d, c["eps"])
        self.post_attention_layernorm = RMSNorm(d, c["eps"])

    def forward(self, h, cos, sin, bias):
        c, a = self.c, self.self_attn
        n = h.shape[0]
        x = self.input_layernorm(h)
        heads = lambda proj, norm, count: norm(proj(x).view(n, count, c["head_dim"])).transpose(0, 1)  # [heads, n, hd]
        q = heads(a.q_proj, a.q_norm, c["heads"])
        k = heads(a.k_proj, a.k_norm, c["kv_heads"])
        v = a.v_proj(x).view(n, c["kv_heads"], c["head_dim"]).transpose(0, 1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        group = c["heads"] // c["kv_heads"]
        k, v = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)  # repeat_kv
        scores = q @ k.transpose(1, 2) / math.sqrt(c["head_dim"]) + bias
        out = (torch.softmax(scores, dim=-1) @ v).transpose(0, 1).reshape(n, -1)
        h = h + a.o_proj(out)
        y = self.post_attention_layernorm(h)
        m = self.mlp
        return h + m.down_proj(nn.functional.silu(m.gate_proj(y)) * m.up_proj(y))


class Qwen3(nn.Module):
    def __init__(self, c, vocab):
        super().__init__()
        self.c = c
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(vocab, c["hidden"])
        self.model.layers = nn.ModuleList([Qwen3Layer(c) for _ in range(c["layers"])])
        self.model.norm = RMSNorm(c["hidden"], c["eps"])

    def hidden_states(self, ids, mask):
        """Every entry of HF's output.hidden_states: the embeddings, each layer's output, the last normed."""
        c, n = self.c, len(ids)
        inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, c["head_dim"], 2, dtype=torch.int64).float() / c["head_dim"]))
        freqs = torch.arange(n, dtype=torch.float32)[:, None] * inv_freq[None]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None], emb.sin()[None]
        allowed = torch.tril(torch.ones(n, n, dtype=torch.bool)) & torch.tensor(mask, dtype=torch.bool)[None, :]
        bias = torch.zeros(n, n).masked_fill(~allowed, torch.finfo(torch.float32).min)
        h = self.model.embed_tokens(torch.tensor(ids))
        states = [h]
        for layer in self.model.layers:
            h = layer(h, cos, sin, bias)
            states.append(h)
        states[-1] = self.model.norm(h)
        return states


def qwen_fixture(tokens):
    model = Qwen3(QWEN, tokens["vocab_size"])
    randomize(model, 21)
    model = encoders.rounded_copy(model, torch.bfloat16)
    sd = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(OUT, "qwen_3_4b.safetensors"), sd)
    # A short padded window of the "short" prompt (the graph is length-agnostic; 512 rows would only
    # make the fixture large): the prompt's tokens, then pad tokens under a zero mask.
    case = tokens["cases"]["short"]
    length = sum(case["attention_mask"]) + 5
    ids, mask = case["input_ids"][:length], case["attention_mask"][:length]
    with torch.no_grad():
        states = model.hidden_states(ids, mask)
    klein = torch.cat([states[i] for i in KLEIN_LAYERS], dim=-1)  # stack then "b c l d -> b l (c d)"
    return {
        "checkpoint": "qwen_3_4b.safetensors",
        "config": QWEN | {"vocab": tokens["vocab_size"]},
        "input_ids": ids,
        "attention_mask": mask,
        "klein": {"layers": KLEIN_LAYERS, "shape": list(klein.shape), "values": floats(klein)},
        "second_to_last": {"layers": [-2], "shape": list(states[-2].shape), "values": floats(states[-2])},
        "final_norm": {"layers": [-1], "shape": list(states[-1].shape), "values": floats(states[-1])},
    }, klein


# ------------------------------------------------------------------------------------- transformer
KLEIN = dict(hidden=32, heads=2, mlp_ratio=3.0, in_channels=16, context=3 * QWEN["hidden"], time=256, depth=2, depth_single=2, axes=[4, 4, 4, 4], theta=2000)


def klein_tensors(c):
    """Every tensor of BFL's Flux2 (klein: no guidance_in, no biases) by key and shape."""
    D, M = c["hidden"], int(c["hidden"] * c["mlp_ratio"])
    hd = D // c["heads"]
    shapes = {
        "img_in.weight": (D, c["in_channels"]),
        "txt_in.weight": (D, c["context"]),
        "time_in.in_layer.weight": (D, c["time"]),
        "time_in.out_layer.weight": (D, D),
        "double_stream_modulation_img.lin.weight": (6 * D, D),
        "double_stream_modulation_txt.lin.weight": (6 * D, D),
        "single_stream_modulation.lin.weight": (3 * D, D),
        "final_layer.adaLN_modulation.1.weight": (2 * D, D),
        "final_layer.linear.weight": (c["in_channels"], D),
    }
    for i in range(c["depth"]):
        for s in ("img", "txt"):
            p = f"double_blocks.{i}.{s}_"
            shapes[p + "attn.qkv.weight"] = (3 * D, D)
            shapes[p + "attn.norm.query_norm.scale"] = (hd,)
            shapes[p + "attn.norm.key_norm.scale"] = (hd,)
            shapes[p + "attn.proj.weight"] = (D, D)
            shapes[p + "mlp.0.weight"] = (2 * M, D)
            shapes[p + "mlp.2.weight"] = (D, M)
    for i in range(c["depth_single"]):
        p = f"single_blocks.{i}."
        shapes[p + "linear1.weight"] = (3 * D + 2 * M, D)
        shapes[p + "linear2.weight"] = (D, D + M)
        shapes[p + "norm.query_norm.scale"] = (hd,)
        shapes[p + "norm.key_norm.scale"] = (hd,)
    return shapes


def klein_weights(c, seed):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in klein_tensors(c).items():
        if key.endswith(".scale"):
            out[key] = 1.0 + 0.1 * torch.randn(*shape, generator=g)
        else:
            out[key] = torch.randn(*shape, generator=g) / math.sqrt(shape[1])
    return out


def timestep_embedding(t, dim, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope_from_omega(ids, axes, omega, mscale):
    """BFL's EmbedND with each axis's ω (and DyPE's mscale) given: [S, F, 2, 2] rotation matrices."""
    axis_of = torch.tensor([a for a, d in enumerate(axes) for _ in range(d // 2)])
    angles = ids.double()[:, axis_of] * torch.tensor(omega, dtype=torch.float64)[None]
    m = torch.tensor(mscale, dtype=torch.float64)[None]
    cos, sin = torch.cos(angles) * m, torch.sin(angles) * m
    return torch.stack([cos, -sin, sin, cos], dim=-1).reshape(*angles.shape, 2, 2).float()


def apply_rope(x, pe):
    """x [H, S, hd] with pe [S, hd/2, 2, 2]: pairs (2i, 2i+1) rotated (BFL apply_rope)."""
    x_ = x.float().reshape(*x.shape[:-1], -1, 1, 2)
    return (pe[..., 0] * x_[..., 0] + pe[..., 1] * x_[..., 1]).reshape(*x.shape)


def rms(x, scale):
    return x * torch.rsqrt(torch.mean(x**2, dim=-1, keepdim=True) + 1e-6) * scale


def layer_norm(x):
    return nn.functional.layer_norm(x, (x.shape[-1],), eps=1e-6)


def swiglu(x):
    a, b = x.chunk(2, dim=-1)
    return nn.functional.silu(a) * b


def klein_forward(w, c, img, txt, t, img_ids, txt_ids, omega, mscale):
    D, H = c["hidden"], c["heads"]
    hd, M = D // H, int(D * c["mlp_ratio"])
    lin = lambda x, k: x @ w[k + ".weight"].T
    vec = lin(nn.functional.silu(lin(timestep_embedding(t, c["time"]), "time_in.in_layer")), "time_in.out_layer")
    mod = lambda k, n: lin(nn.functional.silu(vec), k).chunk(n, dim=-1)
    mod_img, mod_txt = mod("double_stream_modulation_img.lin", 6), mod("double_stream_modulation_txt.lin", 6)
    mod_single = mod("single_stream_modulation.lin", 3)
    img, txt = lin(img, "img_in"), lin(txt, "txt_in")
    pe_img, pe_txt = rope_from_omega(img_ids, c["axes"], omega, mscale), rope_from_omega(txt_ids, c["axes"], omega, mscale)
    pe = torch.cat([pe_txt, pe_img], dim=0)
    heads = lambda x: x.reshape(x.shape[0], H, hd).transpose(0, 1)

    def attention(q, k, v):
        q, k = apply_rope(q, pe), apply_rope(k, pe)
        out = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), dim=-1) @ v
        return out.transpose(0, 1).reshape(-1, D)

    def qkv(x, key, norm_prefix):
        q, k, v = (heads(part) for part in x.split(D, dim=-1)[:3])
        return rms(q, w[norm_prefix + "query_norm.scale"]), rms(k, w[norm_prefix + "key_norm.scale"]), v

    for i in range(c["depth"]):
        p = f"double_blocks.{i}."
        streams = {}
        for s, x, m in (("img", img, mod_img), ("txt", txt, mod_txt)):
            xm = (1 + m[1]) * layer_norm(x) + m[0]
            streams[s] = qkv(lin(xm, p + f"{s}_attn.qkv"), s, p + f"{s}_attn.norm.")
        q, k, v = (torch.cat([streams["txt"][j], streams["img"][j]], dim=1) for j in range(3))
        attn = attention(q, k, v)
        n_txt = txt.shape[0]
        outs = {}
        for s, x, m, a in (("img", img, mod_img, attn[n_txt:]), ("txt", txt, mod_txt, attn[:n_txt])):
            x = x + m[2] * lin(a, p + f"{s}_attn.proj")
            x = x + m[5] * lin(swiglu(lin((1 + m[4]) * layer_norm(x) + m[3], p + f"{s}_mlp.0")), p + f"{s}_mlp.2")
            outs[s] = x
        img, txt = outs["img"], outs["txt"]

    x = torch.cat([txt, img], dim=0)
    shift, scale, gate = mod_single
    for i in range(c["depth_single"]):
        p = f"single_blocks.{i}."
        h = lin((1 + scale) * layer_norm(x) + shift, p + "linear1")
        q, k, v = qkv(h[:, : 3 * D], None, p + "norm.")
        x = x + gate * lin(torch.cat([attention(q, k, v), swiglu(h[:, 3 * D :])], dim=-1), p + "linear2")
    x = x[txt.shape[0] :]
    shift, scale = lin(nn.functional.silu(vec), "final_layer.adaLN_modulation.1").chunk(2, dim=-1)
    return lin((1 + scale) * layer_norm(x) + shift, "final_layer.linear")


def image_ids(h, w):
    """(t, row, col, l) = (0, r, c, 0) per image token, row-major (flux2 prc_img)."""
    return torch.tensor([[0, r, col, 0] for r in range(h) for col in range(w)])


def text_ids(n):
    """(0, 0, 0, l) per text token (flux2 prc_txt)."""
    return torch.tensor([[0, 0, 0, l] for l in range(n)])


def store_fp8mixed(path, weights):
    """ComfyUI's "fp8mixed" layout: the blocks' Linear weights as e4m3fn with a float32 `weight_scale`
    (plus `input_scale` and a `comfy_quant` JSON blob, which a reader of weights ignores); the rest bf16.
    Returns the weights as a reader widens them."""
    tensors, widened = {}, {}
    for key, t in weights.items():
        layer = key[: -len(".weight")]
        if key.endswith(".weight") and t.dim() == 2 and "_blocks." in key:
            scale = float(t.abs().max()) / 448 * 4
            kind, data, value = flux1.stored(t / scale, "F8_E4M3")
            tensors[key] = (kind, t.shape, data)
            tensors[layer + ".weight_scale"] = ("F32", (), struct.pack("<f", scale))
            tensors[layer + ".input_scale"] = ("F32", (), struct.pack("<f", 1.0))
            quant = json.dumps({"format": "float8_e4m3fn"}).encode()
            tensors[layer + ".comfy_quant"] = ("U8", (len(quant),), quant)
            widened[key] = value * torch.tensor(scale, dtype=torch.float32)
        else:
            kind, data, value = flux1.stored(t, "BF16")
            tensors[key] = (kind, t.shape, data)
            widened[key] = value
    flux1.write_safetensors(path, tensors)
    return widened


def transformer_fixture(context):
    c = KLEIN
    raw = klein_weights(c, 31)
    w = {k: v.to(torch.bfloat16) for k, v in raw.items()}  # ComfyUI's flux-2-klein-4b.safetensors is bf16
    write_safetensors(os.path.join(OUT, "flux-2-klein-4b.safetensors"), w)
    checkpoints = {
        "flux-2-klein-4b.safetensors": {k: v.float() for k, v in w.items()},
        "flux-2-klein-4b-fp8mixed.safetensors": store_fp8mixed(os.path.join(OUT, "flux-2-klein-4b-fp8mixed.safetensors"), raw),
    }
    grid = {"height": 2, "width": 3, "textTokens": context.shape[0]}
    rope = json.loads(subprocess.check_output(["npx", "tsx", os.path.join(HERE, "dype-rope.ts"), json.dumps(grid)], cwd=ROOT))
    g = torch.Generator().manual_seed(32)
    tokens = grid["height"] * grid["width"]
    hidden = torch.randn(tokens, c["in_channels"], generator=g)
    t = torch.tensor([0.7])
    outputs = {}
    with torch.no_grad():
        for file, wf in checkpoints.items():
            outputs[file] = {}
            for name in ("native", "dype"):
                out = klein_forward(wf, c, hidden, context, t, image_ids(2, 3), text_ids(grid["textTokens"]), rope[name]["omega"], rope[name]["mscale"])
                outputs[file][name] = floats(out)
    return {
        "checkpoint": "flux-2-klein-4b.safetensors",
        "config": c,
        "grid": grid,
        "t": rope["t"],
        "inputs": {"hidden_states": floats(hidden), "timestep": [0.7]},
        "rope": {k: rope[k] for k in ("native", "dype")},
        "outputs": outputs,
    }


# ------------------------------------------------------------------------------------- VAE
VAE = dict(in_ch=3, out_ch=3, ch=32, ch_mult=(1, 1), num_res_blocks=1, z_channels=4)
BN_EPS = 1e-4


class Flux2AutoEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        z = c["z_channels"]
        self.encoder = encoders.Encoder(c["in_ch"], c["ch"], c["ch_mult"], c["num_res_blocks"], z)
        self.encoder.quant_conv = nn.Conv2d(2 * z, 2 * z, 1)
        self.decoder = encoders.Decoder(c["out_ch"], c["ch"], c["ch_mult"], c["num_res_blocks"], z)
        self.decoder.post_quant_conv = nn.Conv2d(z, z, 1)
        self.bn = nn.BatchNorm2d(4 * z, eps=BN_EPS, affine=False, track_running_stats=True)

    def encode(self, x):
        moments = self.encoder.quant_conv(self.encoder(x))
        mean = moments.chunk(2, dim=1)[0]
        b, ch, h, w = mean.shape
        z = mean.reshape(b, ch, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, ch * 4, h // 2, w // 2)  # c (i pi) (j pj) -> (c pi pj) i j
        self.bn.eval()
        return self.bn(z)

    def decode(self, z):
        s = torch.sqrt(self.bn.running_var.view(1, -1, 1, 1) + BN_EPS)
        z = z * s + self.bn.running_mean.view(1, -1, 1, 1)
        b, ch, h, w = z.shape
        z = z.reshape(b, ch // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, ch // 4, h * 2, w * 2)  # (c pi pj) i j -> c (i pi) (j pj)
        return self.decoder(self.decoder.post_quant_conv(z))


def vae_fixture():
    model = Flux2AutoEncoder(VAE)
    randomize(model, 41)
    g = torch.Generator().manual_seed(42)
    with torch.no_grad():
        model.bn.running_mean.copy_(0.3 * torch.randn(model.bn.running_mean.shape, generator=g))
        model.bn.running_var.copy_(0.5 + torch.rand(model.bn.running_var.shape, generator=g))
        model.bn.num_batches_tracked.fill_(1000)
    sd = {k: v for k, v in model.state_dict().items()}
    # BFL's key names: quant_conv / post_quant_conv live inside encoder / decoder.
    write_safetensors(os.path.join(OUT, "flux2-vae.safetensors"), sd)
    latent = torch.randn(1, 4 * VAE["z_channels"], 2, 3, generator=g)
    image = torch.rand(1, 3, 8, 12, generator=g) * 2 - 1
    with torch.no_grad():
        decoded = model.decode(latent)
        encoded = model.encode(image)
    return {
        "checkpoint": "flux2-vae.safetensors",
        "config": VAE | {"bn_eps": BN_EPS},
        "decode": {"latent_shape": list(latent.shape), "latent": floats(latent), "sample_shape": list(decoded.shape), "sample": floats(decoded)},
        "encode": {"sample_shape": list(image.shape), "sample": floats(image), "latent_shape": list(encoded.shape), "latent": floats(encoded)},
    }


# ------------------------------------------------------------------------------------- schedule
def empirical_mu(image_seq_len, num_steps):
    """flux2 sampling.compute_empirical_mu."""
    a1, b1 = 8.73809524e-05, 1.89833333
    a2, b2 = 0.00016927, 0.45666666
    if image_seq_len > 4300:
        return a2 * image_seq_len + b2
    m_200, m_10 = a2 * image_seq_len + b2, a1 * image_seq_len + b1
    a = (m_200 - m_10) / 190.0
    return a * num_steps + (m_200 - 200.0 * a)


def get_schedule(num_steps, image_seq_len):
    """flux2 sampling.get_schedule: linspace(1, 0) through the exponential time-SNR shift at μ (σ exponent 1)."""
    mu = empirical_mu(image_seq_len, num_steps)
    t = torch.linspace(1, 0, num_steps + 1, dtype=torch.float64)
    return (math.exp(mu) / (math.exp(mu) + (1 / t - 1))).tolist()


def schedule_fixture():
    cases = [(4, 4096), (4, 1024), (4, 4300), (50, 4096), (28, 2000), (4, 16384)]
    return [{"steps": n, "image_seq_len": l, "mu": empirical_mu(l, n), "sigmas": get_schedule(n, l)} for n, l in cases]


def full_size_shapes():
    """Key → shape of the full-size klein files (4B transformer, Qwen3-4B, FLUX.2 VAE), for the bench and the full-size tests."""
    c = dict(KLEIN, hidden=3072, heads=24, in_channels=128, context=7680, depth=5, depth_single=20, axes=[32, 32, 32, 32])
    transformer = {k: list(v) for k, v in klein_tensors(c).items()}
    q = dict(hidden=2560, heads=32, kv_heads=8, head_dim=128, intermediate=9728, layers=36)
    qwen = {"model.embed_tokens.weight": [151936, 2560], "model.norm.weight": [2560]}
    for i in range(q["layers"]):
        p = f"model.layers.{i}."
        qwen |= {
            p + "self_attn.q_proj.weight": [4096, 2560],
            p + "self_attn.k_proj.weight": [1024, 2560],
            p + "self_attn.v_proj.weight": [1024, 2560],
            p + "self_attn.o_proj.weight": [2560, 4096],
            p + "self_attn.q_norm.weight": [128],
            p + "self_attn.k_norm.weight": [128],
            p + "mlp.gate_proj.weight": [9728, 2560],
            p + "mlp.up_proj.weight": [9728, 2560],
            p + "mlp.down_proj.weight": [2560, 9728],
            p + "input_layernorm.weight": [2560],
            p + "post_attention_layernorm.weight": [2560],
        }
    vae = Flux2AutoEncoder(dict(VAE, ch=128, ch_mult=(1, 2, 4, 4), num_res_blocks=2, z_channels=32))
    # The end-to-end tests' VAE: FLUX.2's 4 levels (8 px per latent pixel, 16 per token) at toy width,
    # one block per decoder level, 4 latent channels to fit flux-2-klein-4b.safetensors; its random
    # weights are written by the test from these shapes.
    e2e = Flux2AutoEncoder(dict(VAE, ch_mult=(1, 1, 1, 1), num_res_blocks=0))
    shapes = lambda m: {k: list(v.shape) for k, v in m.state_dict().items()}
    return {"transformer": transformer, "qwen3": qwen, "vae": shapes(vae), "e2e_vae": shapes(e2e)}


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    tokens = tokenizer_fixture()
    qwen, klein_context = qwen_fixture(tokens)
    write_json(os.path.join(OUT, "reference.json"), {"tokenizer": tokens, "schedule": schedule_fixture(), "qwen3": qwen, "transformer": transformer_fixture(klein_context), "vae": vae_fixture()})
    write_json(os.path.join(OUT, "full-size-shapes.json"), full_size_shapes())
    for root, _, files in os.walk(OUT):
        for f in sorted(files):
            print(f"{os.path.relpath(os.path.join(root, f), OUT)}: {os.path.getsize(os.path.join(root, f))} bytes")
