#!/usr/bin/python3
"""End-to-end numerics: runs every generated test model through Tailor's CPU
JIT (tailor-run --check) on the PyTorch reference data that generate.py
--reference wrote, and fails when any output differs from PyTorch by more
than --atol (absolute, default 1e-4) anywhere.

  check_numerics.py --bin BUILD/bin --models DIR [--atol 1e-4] [--no-raise]
                    [--aot WORKDIR]

--no-raise compiles the ONNX-level ops as imported (the tools raise to LLM
ops by default).

--aot compiles every model ahead of time (tailor-compile -> WORKDIR/name.so)
and runs the shared objects instead, through the C runtime.
"""
import argparse
import json
import os
import re
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--no-raise", dest="no_raise", action="store_true",
                    help="compile without raising to LLM ops")
    ap.add_argument("--attention-block", type=int, default=None,
                    help="keys per block of the online-softmax attention "
                         "(0: materialised scores); passed to tailor-compile "
                         "(--aot) or to the JIT")
    ap.add_argument("--aot", metavar="WORKDIR",
                    help="compile each model to WORKDIR/<name>.so and run that")
    args = ap.parse_args()
    if args.aot:
        os.makedirs(args.aot, exist_ok=True)
    with open(os.path.join(args.models, "manifest.json")) as f:
        manifest = json.load(f)
    failures = 0
    checked = 0
    for name, info in sorted(manifest.items()):
        if "reference" not in info:
            continue
        model = os.path.join(args.models, info["file"])
        if args.aot:
            so = os.path.join(args.aot, name + ".so")
            cmd = [os.path.join(args.bin, "tailor-compile"), model, "-o", so, "--quiet"]
            if args.no_raise:
                cmd.append("--raise=false")
            if args.attention_block is not None:
                cmd.append(f"--attention-block={args.attention_block}")
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                failures += 1
                checked += 1
                print(f"FAIL {name}: tailor-compile failed\n{r.stdout}{r.stderr}")
                continue
            model = so
        cmd = [os.path.join(args.bin, "tailor-run"), model,
               "--check", os.path.join(args.models, name + ".data"),
               "--rtol", "0", "--atol", str(args.atol)]
        if args.no_raise and not args.aot:
            cmd.append("--raise=false")
        jit = [] if args.aot or args.attention_block is None else [
            f"--attention-block={args.attention_block}"]
        cmd += jit
        r = subprocess.run(cmd, capture_output=True, text=True)
        errs = [float(x) for x in re.findall(r"max abs ([0-9.e+-]+)", r.stdout)]
        worst = max(errs) if errs else float("nan")
        cases = len(info["reference"])
        checked += 1
        if r.returncode != 0:
            failures += 1
            print(f"FAIL {name}: {cases} case(s)\n{r.stdout}{r.stderr}")
            continue
        print(f"ok   {name}: {cases} case(s) ({len(errs)} outputs), "
              f"max abs diff vs PyTorch {worst:.3g}")
        greedy = os.path.join(args.models, name + ".data", "greedy.json")
        if os.path.exists(greedy):
            with open(greedy) as f:
                want = json.load(f)
            cmd = [os.path.join(args.bin, "tailor-run"), model,
                   "--generate", str(len(want["tokens"])),
                   "--prompt", ",".join(map(str, want["prompt"]))] + jit
            r = subprocess.run(cmd, capture_output=True, text=True)
            m = re.search(r"^generated:(.*)$", r.stdout, re.M)
            got = [int(t) for t in m.group(1).split()] if m else None
            if r.returncode != 0 or got != want["tokens"]:
                failures += 1
                print(f"FAIL {name}: greedy generation {got} != PyTorch {want['tokens']}\n"
                      f"{r.stderr}")
            else:
                print(f"ok   {name}: {len(got)} greedy tokens with the KV cache = PyTorch's")
    if checked == 0:
        print("no model has reference data: run generate.py --reference")
        return 1
    print(f"{checked - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
