"""Helpers shared by the model checks (ctest scripts in this folder)."""
import argparse
import json
import os
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd):
    """Runs `cmd`; on failure prints it with its output and exits 1."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
        sys.exit(1)
    return r.stdout


def tiny_model_check(description, options=()):
    """The common start of a check on the pretrained tiny model: parses
    --bin, --work (created) and `options` (more required flags), pretrains
    or finds the cached model. Returns (args, the model's directory)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    for flag in options:
        ap.add_argument(flag, required=True)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    model_dir = run([sys.executable, os.path.join(HERE, "pretrain.py"), "--size", "tiny",
                     "--print-dir"]).strip().splitlines()[-1]
    return args, model_dir


def read_safetensors(path):
    """float32 tensors by name, and the metadata, of a .safetensors file."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype=np.float32).reshape(t["shape"])
    return out, header.get("__metadata__", {})
