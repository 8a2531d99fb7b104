#!/usr/bin/env python3
"""--tailor-lora-merge against PyTorch, both ways LoRA reaches Tailor.

1. Branches in the graph: raises the exported LoRA-wrapped LLaMA
   (tailor-compile --compile-to=raise), merges its LoRA branches (tailor-opt
   --tailor-lora-merge), checks that the LoRA linears are gone, and runs the
   merged model on generate.py's PyTorch reference data (the unmerged
   model's outputs) with a 1e-5 absolute tolerance.
2. PEFT adapter files: peft_adapter.py writes two adapters for llama-opset17
   (F32 with lora_bias; BF16 with rsLoRA, rank/alpha patterns and Hugging
   Face module names) and PyTorch's outputs with both merged (weights 1 and
   0.5); tailor-compile --lora-adapter ... builds the merged .so, which must
   match them within 1e-5 (and the base model must not).
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import run  # noqa: E402


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
         "--pass-pipeline=builtin.module(tailor-lora-merge)", "-o", merged])
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

    peft = os.path.join(args.work, "peft")
    here = os.path.dirname(os.path.abspath(__file__))
    print(run([sys.executable, os.path.join(here, "peft_adapter.py"), peft]).strip())
    base = os.path.join(args.models, "llama-opset17.onnx")
    so = os.path.join(peft, "merged.so")
    run([os.path.join(args.bin, "tailor-compile"), base, "--quiet", "-o", so,
         "--lora-adapter", os.path.join(peft, "ours"),
         "--lora-adapter", os.path.join(peft, "hf-names"),
         "--lora-adapter-weight", "1", "--lora-adapter-weight", "0.5",
         "--lora-module-map", r"model\.layers\.([0-9]+)\.mlp\.(gate|up|down)_proj=>blocks.\1.mlp.\2",
         "--lora-module-map", r"model\.layers\.([0-9]+)\.self_attn\.o_proj=>blocks.\1.o"])
    check = ["--check", os.path.join(peft, "merged.data"), "--rtol", "1e-5", "--atol", "1e-5"]
    print(run([os.path.join(args.bin, "tailor-run"), so] + check).strip())
    r = subprocess.run([os.path.join(args.bin, "tailor-run"), base] + check,
                       capture_output=True, text=True)
    if r.returncode == 0:
        print("FAIL: the base model matches the merged outputs: the adapters change nothing")
        return 1
    print("ok: PEFT adapters merged by tailor-compile = PyTorch's merged outputs within 1e-5; "
          "the base model differs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
