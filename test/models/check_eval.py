#!/usr/bin/env python3
"""tailor-eval on the pretrained tiny model (pretrain.py --size tiny) against
PyTorch: the compiled fp32 model's held-out perplexity must equal the one
PyTorch measured on the same windows (info.json) within 1e-4 relative, and a
model compared with itself must show KL 0 and 100% top-1 agreement. Then
the compressed variants (tailor-compile --quantize=int8) against the fp32
reference: KL(fp32 || int8) <= 1e-3 nats/token (the issue's bar); 25% of the
FFN channels pruned (tailor-compile --prune=ffn-channels, smaller shapes)
must compile, run and stay close (KL < 0.1, a smaller artifact); int4 in
groups of 32 (RTN): KL between int8's and 0.05."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import run, tiny_model_check  # noqa: E402


def main():
    args, model_dir = tiny_model_check(__doc__)
    info = json.load(open(os.path.join(model_dir, "info.json")))
    fp32 = os.path.join(args.work, "fp32.so")
    run([os.path.join(args.bin, "tailor-compile"), os.path.join(model_dir, "model.onnx"),
         "-o", fp32, "--quiet"])
    int8 = os.path.join(args.work, "int8.so")
    run([os.path.join(args.bin, "tailor-compile"), os.path.join(model_dir, "model.onnx"),
         "-o", int8, "--quiet", "--quantize=int8"])
    int4 = os.path.join(args.work, "int4.so")
    run([os.path.join(args.bin, "tailor-compile"), os.path.join(model_dir, "model.onnx"),
         "-o", int4, "--quiet", "--quantize=int4", "--quantize-group-size=32"])
    ffn = os.path.join(args.work, "ffn75.so")
    run([os.path.join(args.bin, "tailor-compile"), os.path.join(model_dir, "model.onnx"),
         "-o", ffn, "--quiet", "--prune=ffn-channels", "--prune-sparsity=0.25"])
    out_json = os.path.join(args.work, "eval.json")
    print(run([os.path.join(args.bin, "tailor-eval"), fp32, fp32, int8, ffn, int4, "--tokens",
               os.path.join(model_dir, "heldout.npy"), "--json", out_json]).rstrip())
    results = json.load(open(out_json))["results"]
    ppl, torch_ppl = results[0]["perplexity"], info["heldout_perplexity"]
    print(f"perplexity: tailor-eval {ppl:.6f}, PyTorch {torch_ppl:.6f} (uniform 256)")
    if abs(ppl - torch_ppl) > 1e-4 * torch_ppl:
        print("FAIL: tailor-eval's perplexity differs from PyTorch's")
        return 1
    if torch_ppl > 16:
        print("FAIL: the pretrained model has not learned enough (perplexity > 16)")
        return 1
    if results[1]["kl"] > 1e-9 or results[1]["top1_agreement"] != 1.0:
        print("FAIL: a model compared with itself must have KL 0 and agree everywhere")
        return 1
    q = results[2]
    if q["kl"] > 1e-3 or q["kl"] <= 0 or q["bytes"] >= 0.5 * results[0]["bytes"]:
        print("FAIL: int8 must have 0 < KL <= 1e-3 and less than half the fp32 size")
        return 1
    p = results[3]
    if not (0 < p["kl"] < 0.1) or p["bytes"] >= results[0]["bytes"]:
        print("FAIL: ffn-channels pruning must give 0 < KL < 0.1 and a smaller artifact")
        return 1
    q4 = results[4]
    if not (q["kl"] < q4["kl"] < 0.05):
        print("FAIL: int4 (groups of 32) must have KL above int8's and below 0.05")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
