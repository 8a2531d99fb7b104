#!/usr/bin/python3
"""Imports every generated test model with tailor-import, checks it verifies
with zero unsupported ops, then (with --raise) runs --tailor-raise and checks
that it finds what the manifest says each model holds: one attention and one
norm pair per layer (plus the final norm), and the MoE block where present.

  check_models.py --bin BUILD/bin --models DIR [--raise]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time


def count(pattern, text):
    return len(re.findall(pattern, text))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--raise", dest="do_raise", action="store_true")
    args = ap.parse_args()
    with open(os.path.join(args.models, "manifest.json")) as f:
        manifest = json.load(f)
    failures = 0
    for name, info in sorted(manifest.items()):
        path = os.path.join(args.models, info["file"])
        out = os.path.join(args.models, name + ".mlir")
        t0 = time.time()
        r = subprocess.run([os.path.join(args.bin, "tailor-import"), path, "-o", out],
                           capture_output=True, text=True)
        dt = time.time() - t0
        if r.returncode != 0:
            print(f"FAIL {name}: import failed:\n{r.stderr}")
            failures += 1
            continue
        text = open(out).read()
        if "tailor.onnx" not in text:
            print(f"FAIL {name}: imported module has no tailor ops")
            failures += 1
            continue
        num_ops = count(r'"tailor\.onnx\.', text)
        line = f"ok   {name}: imported in {dt:.2f}s, {num_ops} ONNX ops"
        if args.do_raise:
            r = subprocess.run([os.path.join(args.bin, "tailor-opt"), out, "--tailor-raise"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {name}: --tailor-raise failed:\n{r.stderr}")
                failures += 1
                continue
            raised = r.stdout
            layers = info["layers"]
            found = {
                "attention": count(r"tailor\.attention ", raised),
                info["norm"]: count(r"tailor\." + info["norm"] + " ", raised),
                "moe": count(r"tailor\.moe ", raised),
            }
            expected = {"attention": layers, info["norm"]: 2 * layers + 1,
                        "moe": info["moe_blocks"]}
            if found != expected:
                print(f"FAIL {name}: --tailor-raise found {found}, expected {expected}")
                failures += 1
                continue
            line += f"; raised {found}"
        print(line)
    print(f"{len(manifest) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
