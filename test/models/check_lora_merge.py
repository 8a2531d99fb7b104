#!/usr/bin/env python3
"""--tailor-lora-merge on the exported LoRA-wrapped LLaMA, against PyTorch.

Raises the model (tailor-compile --compile-to=raise), merges its LoRA
branches (tailor-opt --tailor-lora-merge), checks that the LoRA linears are
gone, and runs the merged model on generate.py's PyTorch reference data
(the unmerged model's outputs) with a 1e-5 absolute tolerance.
"""
import argparse
import os
import re
import subprocess
import sys


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
        sys.exit(1)
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    name = "llama-lora-opset17"
    raised = os.path.join(args.work, "raised.mlir")
    merged = os.path.join(args.work, "merged.mlir")
    run([os.path.join(args.bin, "tailor-compile"), os.path.join(args.models, name + ".onnx"),
         "--compile-to=raise", "--emit=mlir", "-o", raised, "--quiet"])
    run([os.path.join(args.bin, "tailor-opt"), raised,
         "--pass-pipeline=builtin.module(func.func(tailor-lora-merge))", "-o", merged])
    count = lambda path: len(re.findall(r"tailor\.linear ", open(path).read()))
    before, after = count(raised), count(merged)
    print(f"linear ops: {before} raised, {after} after merging")
    if after >= before or (before - after) % 2:
        print("FAIL: the LoRA branches were not merged")
        return 1
    out = run([os.path.join(args.bin, "tailor-run"), merged,
               "--check", os.path.join(args.models, name + ".data"),
               "--rtol", "0", "--atol", "1e-5"])
    print(out.strip())
    print(f"ok: {(before - after) // 2} LoRA branches merged; merged model = PyTorch's "
          f"unmerged outputs within 1e-5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
