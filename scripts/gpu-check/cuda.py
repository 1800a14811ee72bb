"""ORT's CUDA EP on the demo transformer, where this machine's Python onnxruntime has one.

onnxruntime-node's CUDA EP is a separate download that a machine without network cannot get, so
the CUDA half of the GPU check uses Python's onnxruntime(-gpu) if the machine has it. check.mjs
left the float32 demo bundle in WORK/fp32 and one step's transformer feeds per size in
WORK/feeds/<size>/; this times one transformer call on CUDA and on CPU and compares the velocities.
Then the full-width transformer probes check.mjs wrote under WORK/probes/<name>/ (float32, float16,
and any quantised graph placed there): time per step and GPU memory at 1024² and 2048² on CUDA,
where the float16 graph takes CUDA's flash attention.
Usage: python3 cuda.py WORK
"""
import json
import os
import subprocess
import sys
import time

import numpy as np

try:
    import onnxruntime as ort
except ImportError:
    ort = None

DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64}


def load_feeds(folder):
    manifest = json.load(open(os.path.join(folder, "feeds.json")))
    feeds = {}
    for name, info in manifest.items():
        if name == "hidden_states":
            feeds[name] = np.random.default_rng(1).standard_normal(info["dims"], dtype=np.float32)
        else:
            raw = np.fromfile(os.path.join(folder, name + ".bin"), dtype=DTYPES[info["type"]])
            feeds[name] = raw.reshape(info["dims"])
    return feeds


def main(work):
    if ort is None:
        print("cuda: python3 has no onnxruntime, skipped")
        return
    providers = ort.get_available_providers()
    print(f"python onnxruntime {ort.__version__}: {', '.join(providers)}")
    if "CUDAExecutionProvider" not in providers:
        print("cuda: not in this onnxruntime build, skipped")
        return
    model = os.path.join(work, "fp32", "transformer", "model.onnx")
    sessions = {name: ort.InferenceSession(model, providers=[name]) for name in ("CUDAExecutionProvider", "CPUExecutionProvider")}
    feeds_root = os.path.join(work, "feeds")
    for size in sorted(os.listdir(feeds_root), key=int):
        feeds = load_feeds(os.path.join(feeds_root, size))
        outputs = {}
        for name, session in sessions.items():
            session.run(None, feeds)  # warm-up
            start = time.perf_counter()
            for _ in range(3):
                outputs[name] = session.run(None, feeds)[0]
            ms = (time.perf_counter() - start) / 3 * 1000
            print(f"| {size}² | {name} | {ms:.1f} ms per transformer call |")
        diff = np.abs(outputs["CUDAExecutionProvider"] - outputs["CPUExecutionProvider"])
        print(f"{size}²: CUDA vs CPU velocity, max |diff| {diff.max():.2e}, mean {diff.mean():.2e}")


def gpu_memory_used_mib():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
        return int(out.stdout.split("\n")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def probe_feeds(config, image_tokens, text_tokens=512):
    half = config["headDim"] // 2
    feeds = {
        "hidden_states": np.zeros((1, image_tokens, config["inChannels"]), np.float32),
        "encoder_hidden_states": np.zeros((1, text_tokens, config["contextDim"]), np.float32),
        "pooled_projections": np.zeros((1, config["vecDim"]), np.float32),
        "timestep": np.zeros((1,), np.float32),
        "img_ids": np.zeros((image_tokens, 3), np.float32),
        "txt_ids": np.zeros((text_tokens, 3), np.float32),
        "rope_omega": np.zeros((half,), np.float32),
        "rope_mscale": np.ones((half,), np.float32),
    }
    if config.get("guidance"):
        feeds["guidance"] = np.zeros((1,), np.float32)
    return feeds


def probes(work):
    root = os.path.join(work, "probes")
    if ort is None or "CUDAExecutionProvider" not in ort.get_available_providers() or not os.path.isdir(root):
        print("probes: no CUDA onnxruntime or no probes, skipped")
        return
    config = json.load(open(os.path.join(root, "config.json")))
    for name in sorted(os.listdir(root)):
        model = os.path.join(root, name, "model.onnx")
        if not os.path.isfile(model):
            continue
        idle = gpu_memory_used_mib()
        session = ort.InferenceSession(model, providers=["CUDAExecutionProvider"])
        for size in [int(n) for n in os.environ.get("DYPE_GPU_CHECK_PROBE_SIZES", "1024,2048").split(",")]:
            feeds = probe_feeds(config, (size // 16) ** 2)
            session.run(None, feeds)  # warm-up: kernels and the arena for this size
            start = time.perf_counter()
            session.run(None, feeds)
            ms = (time.perf_counter() - start) * 1000
            used = gpu_memory_used_mib()
            memory = f"{used - idle} MiB" if used is not None and idle is not None else "?"
            print(f"| probe {name} ({config['depth']}+{config['depthSingle']} blocks of width {config['hidden']}) | {size}² | CUDA | {ms:.1f} ms per step | GPU {memory} |")
        del session


if __name__ == "__main__":
    main(sys.argv[1])
    probes(sys.argv[1])
