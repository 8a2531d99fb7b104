#!/usr/bin/env python3
"""tailor-compile --emit=onnx on the pretrained tiny model: each compressed
variant (LoRA adapter merged, 25% FFN channels pruned, int8, int4 g32 in
ONNX ops and as ONNX Runtime's MatMulNBits, W8A8) is exported to ONNX, checked by ONNX's checker, compiled again by
Tailor and evaluated against the variant compiled directly: the two must
give the same next-token distributions (mean KL <= 1e-6 nats/token; the
int4 export carries its dequantization in ONNX ops, so its reference is the
direct compile with --int4-activations=f32). The exported graphs are
inspected too: int8 weights behind DequantizeLinear, pruned FFN weights
with 3/4 of the channels, unique node names (ONNX Runtime requires them;
bench/run-compression runs the exports in ONNX Runtime)."""
import json
import os
import sys

import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from checks import run, tiny_model_check  # noqa: E402


def main():
    args, model_dir = tiny_model_check(__doc__)
    onnx_path = os.path.join(model_dir, "model.onnx")
    heldout = os.path.join(model_dir, "heldout.npy")
    adapter = os.path.join(args.work, "adapter")
    run([sys.executable, os.path.join(HERE, "peft_adapter.py"), "--for-pretrained", model_dir,
         adapter])
    compile_ = os.path.join(args.bin, "tailor-compile")
    # name, options, options of the direct compile only, of the compile of
    # the export only
    f32_act = ["--int4-activations=f32"]
    variants = [
        ("fp32", [], [], []),
        ("lora", ["--lora-adapter", adapter], [], []),
        ("ffn25", ["--prune=ffn-channels", "--prune-sparsity=0.25"], [], []),
        ("int8", ["--quantize=int8"], [], []),
        ("int4", ["--quantize=int4", "--quantize-group-size=32"], f32_act, []),
        # MatMulNBits comes back as the same int4 linear: both sides run
        # the f32-activation path (an exact comparison).
        ("nbits", ["--quantize=int4", "--quantize-group-size=32", "--quantize-asymmetric",
                   "--onnx-int4=matmulnbits"], f32_act, f32_act),
        ("w8a8", ["--quantize=w8a8"], [], []),
    ]
    failed = False
    for name, options, direct_only, again_only in variants:
        exported = os.path.join(args.work, f"{name}.onnx")
        direct = os.path.join(args.work, f"{name}-direct.so")
        again = os.path.join(args.work, f"{name}-again.so")
        run([compile_, onnx_path, "--quiet", "--emit=onnx", "-o", exported] + options)
        model = onnx.load(exported)
        onnx.checker.check_model(model)
        ops = {n.op_type for n in model.graph.node}
        # ONNX Runtime refuses a graph with two nodes of one name.
        node_names = [n.name for n in model.graph.node]
        unique_names = len(set(node_names)) == len(node_names)
        run([compile_, onnx_path, "--quiet", "-o", direct]
            + [o for o in options if not o.startswith("--onnx-")] + direct_only)
        run([compile_, exported, "--quiet", "-o", again] + again_only)
        out_json = os.path.join(args.work, f"{name}.json")
        run([os.path.join(args.bin, "tailor-eval"), direct, again, "--tokens", heldout,
             "--max-windows", "16", "--json", out_json])
        r = json.load(open(out_json))["results"]
        kl = r[1]["kl"]
        ok = kl <= 1e-6
        notes = [] if unique_names else ["duplicate node names"]
        ok = ok and unique_names
        if name in ("int8", "w8a8") and "DequantizeLinear" not in ops:
            ok, notes = False, notes + ["no DequantizeLinear"]
        if name == "nbits" and "MatMulNBits" not in ops:
            ok, notes = False, notes + ["no MatMulNBits"]
        if name == "w8a8" and not {"ReduceMax", "Round", "Clip"} <= ops:
            ok, notes = False, notes + ["no per-token activation rounding"]
        if name == "ffn25":
            # The FFN width (info.json) must be gone, 3/4 of it present.
            ffn = json.load(open(os.path.join(model_dir, "info.json")))["config"]["model"]["ffn"]
            sizes = {d for i in model.graph.initializer for d in i.dims}
            if ffn in sizes or ffn * 3 // 4 not in sizes:
                ok, notes = False, notes + [f"FFN width {ffn} not cut to {ffn * 3 // 4}"]
        print(f"{name:6s} ops {len(model.graph.node):4d}  KL(direct || exported again) "
              f"{kl:.2e}  {'ok' if ok else 'FAIL ' + ', '.join(notes)}")
        failed |= not ok
    if failed:
        print("FAIL")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
