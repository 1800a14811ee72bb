"""
The checkpoints of the tiny FLUX.1 Hub repository that test/models/helpers/tiny-repo.ts serves.

Run from the repository root with Debian's torch 1.13 (`/usr/bin/python3`, no other packages):

    /usr/bin/python3 test/models/make_tiny_repo.py

Unlike test/convert's end-to-end encoders, this CLIP has 64-wide attention heads (OpenAI's CLIP-L
head width), so `dype convert` reads it as it reads the real one, with no test-only option: a
64-wide CLIP with one head, and a FLUX.1 [dev] transformer whose pooled-text input (vector_in) is
64 wide to match. The T5 and VAE are test/convert's. Writes test/models/fixtures/:
- flux1-dev.safetensors  BFL keys, bfloat16 (as flux1-dev.safetensors on the Hub), one double and
  one single block of test/convert's toy widths;
- clip_l.safetensors     HF CLIPTextModel keys, float16, vocabulary 323 and 77 positions (the demo
  CLIP tokenizer's).
"""
import importlib.util
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, 'fixtures')
CLIP_WIDTH = 64  # one 64-wide head


def load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    flux = load('make_fixtures', 'test/convert/reference-transformer/make_fixtures.py')
    enc = load('reference_encoders', 'test/convert/reference-encoders/reference.py')
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(11)

    def make(name, shape):
        if name.endswith('.scale'):
            return 1.0 + 0.1 * torch.randn(*shape, generator=g)
        if name.endswith('.bias'):
            return torch.randn(*shape, generator=g) * 0.05
        return torch.randn(*shape, generator=g) / math.sqrt(shape[1])

    weights = flux.bfl_tensors(True, make, VEC=CLIP_WIDTH, DEPTH=1, DEPTH_SINGLE=1)
    flux.store_checkpoint(os.path.join(OUT, 'flux1-dev.safetensors'), weights, 'BF16')

    clip = enc.ClipTextModel(vocab=323, width=CLIP_WIDTH, heads=CLIP_WIDTH // 64, inner=2 * CLIP_WIDTH, layers=1, positions=77)
    enc.randomize(clip, 12)
    enc.write_safetensors(os.path.join(OUT, 'clip_l.safetensors'), {k: v.half() for k, v in enc.state(clip).items()})
    print('wrote', OUT)


if __name__ == '__main__':
    main()
