#!/usr/bin/python3
"""The C runtime on ahead-of-time models: compiles a KV-cache LM and a plain
model with tailor-compile (plus the LM's C header), makes broken .so files,
then runs capi_test (errors, runs, sessions, sampling, generation against
PyTorch's greedy tokens) and a program linked against the model's .so.

  run_capi.py --bin BUILD/bin --models MODELS_DIR --work DIR --cc clang-22
              --include SRC/include
"""
import argparse
import json
import os
import shutil
import subprocess
import sys


def run(cmd, **kw):
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"command failed with {r.returncode}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cc", required=True)
    ap.add_argument("--include", required=True)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    w = lambda f: os.path.join(args.work, f)
    lm = os.path.join(args.models, "llama-kvcache-opset17.onnx")
    plain = os.path.join(args.models, "gpt2-opset17.onnx")
    compile_ = os.path.join(args.bin, "tailor-compile")
    run([compile_, lm, "-o", w("lm.so"), "--header", w("model.h"), "--name", "model"])
    run([compile_, plain, "-o", w("plain.so"), "--quiet"])
    with open(os.path.join(args.models, "llama-kvcache-opset17.data", "greedy.json")) as f:
        greedy = json.load(f)
    prompt = ",".join(map(str, greedy["prompt"]))
    tokens = ",".join(map(str, greedy["tokens"]))

    # Files that must fail to load, each with an error message.
    with open(w("text.so"), "w") as f:
        f.write("not an ELF file\n")
    data = open(w("lm.so"), "rb").read()
    with open(w("truncated.so"), "wb") as f:
        f.write(data[: len(data) // 3])
    # A valid shared object that is no Tailor model.
    libm = next((p for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6")
                 if os.path.exists(p)), None)
    bad = [w("text.so"), w("truncated.so"), w("missing.so")] + ([libm] if libm else [])

    run([os.path.join(args.bin, "tailor-capi-test"), w("lm.so"), w("plain.so"),
         prompt, tokens] + bad)

    # A program linked against the model's .so (which carries the runtime).
    shutil.copy(w("lm.so"), w("libmodel.so"))
    run([args.cc, "-std=c11", "-Wall", "-Werror", "-I", args.include, "-I", args.work,
         os.path.join(os.path.dirname(os.path.abspath(__file__)), "embedded.c"),
         "-o", w("embedded"), "-L", args.work, "-lmodel", "-Wl,-rpath," + os.path.abspath(args.work)])
    run([w("embedded"), prompt, tokens])
    print("PASS")


if __name__ == "__main__":
    main()
