#!/usr/bin/env python3
"""tailor-calibrate against PyTorch on the pretrained tiny model: the
per-channel sums of squares of every linear's input over the calibration
windows must equal PyTorch's (forward hooks on the same model, its weights
read back from the ONNX file) within 1e-4 relative; with --hessian, x^T x
too. Then 50% unstructured pruning by magnitude and by Wanda (from those
statistics), lm_head kept: both must run and lose some perplexity; their
perplexities are printed (on these small byte-level models Wanda does not
beat magnitude: see docs/compression.md). Half the attention heads
(--prune=heads): the KV cache shapes shrink and the model runs."""
import json
import os
import re
import struct
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402
from checks import read_safetensors, run, tiny_model_check  # noqa: E402


def torch_model(model_dir):
    """The pretrained Llama with the ONNX file's weights (MatMul weights are
    stored transposed, [in, out], and named after their node's scope)."""
    info = json.load(open(os.path.join(model_dir, "info.json")))
    c = generate.Config(vocab=256, **info["config"]["model"])
    model = generate.Llama(c)
    m = onnx.load(os.path.join(model_dir, "model.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            if name in inits:
                p.copy_(torch.from_numpy(inits[name].copy()))
        for node in m.graph.node:
            mm = re.fullmatch(r"/(.*)/MatMul", node.name)
            if node.op_type == "MatMul" and mm and node.input[1] in inits:
                key = mm.group(1).replace("/", ".") + ".weight"
                params[key].copy_(torch.from_numpy(inits[node.input[1]].T.copy()))
    model.eval()
    return model


def main():
    args, model_dir = tiny_model_check(__doc__)
    onnx_path = os.path.join(model_dir, "model.onnx")
    calib = np.load(os.path.join(model_dir, "calib.npy"))[:32]
    np.save(os.path.join(args.work, "calib32.npy"), calib)
    stats_path = os.path.join(args.work, "calib.safetensors")
    run([os.path.join(args.bin, "tailor-calibrate"), onnx_path, "--tokens",
         os.path.join(args.work, "calib32.npy"), "-o", stats_path, "--hessian"])
    stats, meta = read_safetensors(stats_path)

    model = torch_model(model_dir)
    sums, hess, amax = {}, {}, {}

    def hook(name):
        def fn(mod, inp, out):
            x = inp[0].reshape(-1, inp[0].shape[-1]).double()
            sums[name] = sums.get(name, 0) + (x * x).sum(0)
            hess[name] = hess.get(name, 0) + x.T @ x
            m = x.abs().amax(0)
            amax[name] = torch.maximum(amax[name], m) if name in amax else m
        return fn
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            mod.register_forward_hook(hook(name))
    with torch.no_grad():
        model(torch.from_numpy(calib[:, :-1]))
    worst = 0.0
    for name in sums:
        for kind, ref in (("sumsq", sums[name]), ("hessian", hess[name]),
                          ("absmax", amax[name])):
            got = stats.get(f"{name}.{kind}")
            if got is None:
                print(f"FAIL: tailor-calibrate has no {name}.{kind}")
                return 1
            ref = ref.numpy()
            err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
            worst = max(worst, err)
    print(f"{len(sums)} linears, rows {meta.get('rows')}: worst relative difference to "
          f"PyTorch {worst:.2e}")
    if worst > 1e-4:
        print("FAIL: the statistics differ from PyTorch's")
        return 1

    # Wanda vs magnitude, 50% unstructured.
    full_stats = os.path.join(args.work, "calib-all.safetensors")
    run([os.path.join(args.bin, "tailor-calibrate"), onnx_path, "--tokens",
         os.path.join(model_dir, "calib.npy"), "-o", full_stats, "--hessian"])
    sos = []
    for method in ("magnitude", "wanda"):
        so = os.path.join(args.work, f"{method}.so")
        extra = ["--calibration", full_stats] if method == "wanda" else []
        run([os.path.join(args.bin, "tailor-compile"), onnx_path, "-o", so, "--quiet",
             "--prune=unstructured", "--prune-sparsity=0.5", f"--prune-method={method}",
             "--prune-exclude", "lm_head"] + extra)
        sos.append(so)
    fp32 = os.path.join(args.work, "fp32.so")
    run([os.path.join(args.bin, "tailor-compile"), onnx_path, "-o", fp32, "--quiet"])
    out_json = os.path.join(args.work, "eval.json")
    print(run([os.path.join(args.bin, "tailor-eval"), fp32] + sos +
              ["--tokens", os.path.join(model_dir, "heldout.npy"), "--json", out_json]).rstrip())
    r = json.load(open(out_json))["results"]
    base = r[0]["perplexity"]
    if not all(base < x["perplexity"] < 2 * base for x in r[1:]):
        print("FAIL: a 50%-pruned model must lose some, not most, of its perplexity")
        return 1
    print(f"ok: 50% pruned perplexity: magnitude {r[1]['perplexity']:.4f}, "
          f"Wanda {r[2]['perplexity']:.4f} (fp32 {r[0]['perplexity']:.4f})")

    # Structured: half the key/value heads (and their query heads) of every
    # layer removed; the KV cache and attention shapes shrink (2 -> 1 kv
    # heads, 4 -> 2 query heads) and the model still runs (a session too:
    # --speed decodes with the smaller cache).
    heads_ir = run([os.path.join(args.bin, "tailor-compile"), onnx_path, "--quiet",
                    "--prune=heads", "--prune-sparsity=0.5", "--compile-to=optimize"])
    if ("past_key.0" not in heads_ir or "tensor<?x1x?x32xf32> {onnx.name = \"past_key.0\"}"
            not in heads_ir or "tensor<?x4x?x32xf32>" in heads_ir):
        print("FAIL: --prune=heads did not shrink the KV cache to one head and the "
              "queries to two heads per layer")
        return 1
    heads_so = os.path.join(args.work, "heads.so")
    run([os.path.join(args.bin, "tailor-compile"), onnx_path, "-o", heads_so, "--quiet",
         "--prune=heads", "--prune-sparsity=0.5"])
    print(run([os.path.join(args.bin, "tailor-eval"), fp32, heads_so, "--tokens",
               os.path.join(model_dir, "heldout.npy"), "--json", out_json, "--speed",
               "--decode", "16"]).rstrip())
    r = json.load(open(out_json))["results"]
    if not (r[0]["perplexity"] < r[1]["perplexity"] < 1e3 and r[1]["decode_tokens_per_s"] > 0):
        print("FAIL: the head-pruned model must run and lose some perplexity")
        return 1
    print(f"ok: half the heads pruned: perplexity {r[1]['perplexity']:.4f} "
          f"(fp32 {r[0]['perplexity']:.4f})")

    # From the same statistics, in one evaluation against fp32:
    # - int4 groups of 128: GPTQ and AWQ (X^T X) must both end closer to
    #   fp32 than round-to-nearest (the bar);
    # - W8A8 (int8 x int8 kernel, per-token activations), RTN and
    #   SmoothQuant (the channel maxima): within the int8 bar
    #   (1e-3), SmoothQuant closer than plain W8A8.
    variants = [("int4", "rtn"), ("int4", "gptq"), ("int4", "awq"),
                ("w8a8", "rtn"), ("w8a8", "smoothquant")]
    sos = []
    for mode, method in variants:
        so = os.path.join(args.work, f"{mode}-{method}.so")
        run([os.path.join(args.bin, "tailor-compile"), onnx_path, "-o", so, "--quiet",
             f"--quantize={mode}", f"--quantize-method={method}", "--calibration", full_stats])
        sos.append(so)
    print(run([os.path.join(args.bin, "tailor-eval"), fp32] + sos +
              ["--tokens", os.path.join(model_dir, "heldout.npy"), "--json", out_json]).rstrip())
    rtn, gptq, awq, w8, sq = (x["kl"] for x in json.load(open(out_json))["results"][1:])
    print(f"int4 g128 KL: RTN {rtn:.3e}, GPTQ {gptq:.3e}, AWQ {awq:.3e}")
    print(f"W8A8 KL: RTN {w8:.3e}, SmoothQuant {sq:.3e}")
    if not (0 < gptq < rtn and 0 < awq < rtn):
        print("FAIL: GPTQ and AWQ must both have a lower KL than RTN")
        return 1
    if not (0 < sq < w8 < 1e-3):
        print("FAIL: W8A8 must be within 1e-3 nats/token of fp32, SmoothQuant closer")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
