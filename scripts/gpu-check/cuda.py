"""ORT's CUDA EP on the demo transformer, where this machine's Python onnxruntime has one.

onnxruntime-node's CUDA EP is a separate download that a machine without network cannot get, so
the CUDA half of the GPU check uses Python's onnxruntime(-gpu) if the machine has it. check.mjs
left the float32 demo bundle in WORK/fp32 and one step's transformer feeds per size in
WORK/feeds/<size>/; this times one transformer call on CUDA and on CPU and compares the velocities.
Usage: python3 cuda.py WORK
"""
import json
import os
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


if __name__ == "__main__":
    main(sys.argv[1])
