#!/usr/bin/python3
"""Checks the CPU matmul strategy (tiling, peeling, vectorization) on shapes
that stress its remainders: sizes below, at and above the register and cache
tiles, dynamic rows (batch x sequence, single-row decode steps), batched
products with and without broadcast weights. Each case is a one-node ONNX
model run by tailor-run --check against numpy (float64 accumulation).

  matmul_shapes.py --tailor-run BUILD/bin/tailor-run --work DIR [-O N]
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (name, A shape, B shape, B constant?, dims of A made dynamic)
CASES = [
    ("tiny", (3, 5), (5, 7), True, []),
    ("exact_tiles", (16, 64), (64, 64), True, []),
    ("odd", (100, 70), (70, 90), True, []),
    ("above_cache_tile", (130, 600), (600, 140), True, []),
    ("dynamic_rows_13", (13, 64), (64, 96), True, [0]),
    ("dynamic_rows_1", (1, 200), (200, 130), True, [0]),
    ("batched_rows", (2, 9, 48), (48, 40), True, [0, 1]),
    ("batched_both", (3, 10, 24), (3, 24, 36), False, [0, 1]),
    ("broadcast_batch", (2, 3, 7, 16), (3, 16, 33), False, [0, 2]),
    ("vector_times_matrix", (37,), (37, 45), True, []),
]


def build(path, a_shape, b_shape, b_const, dynamic, rng):
    a_dims = [f"d{i}" if i in dynamic else s for i, s in enumerate(a_shape)]
    inputs = [helper.make_tensor_value_info("A", TensorProto.FLOAT, a_dims)]
    inits = []
    b = rng.standard_normal(b_shape).astype(np.float32)
    if b_const:
        inits.append(numpy_helper.from_array(b, "B"))
    else:
        inputs.append(helper.make_tensor_value_info("B", TensorProto.FLOAT, list(b_shape)))
    out_rank = np.matmul(np.zeros(a_shape), np.zeros(b_shape)).ndim
    out = helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                        [f"o{i}" for i in range(out_rank)])
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["Y"], name="mm")],
                              "g", inputs, [out], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tailor-run", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("-O", dest="opt", default="2")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    failures = 0
    for name, a_shape, b_shape, b_const, dynamic in CASES:
        case = os.path.join(args.work, name)
        data = os.path.join(case, "data")
        os.makedirs(data, exist_ok=True)
        model = os.path.join(case, "model.onnx")
        b = build(model, a_shape, b_shape, b_const, dynamic, rng)
        a = rng.standard_normal(a_shape).astype(np.float32)
        want = np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
        tensors = [a] if b_const else [a, b]
        for i, t in enumerate(tensors):
            with open(os.path.join(data, f"input_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(t).SerializeToString())
        with open(os.path.join(data, "output_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(want).SerializeToString())
        r = subprocess.run([args.tailor_run, model, f"-O{args.opt}", "--check", data,
                            "--rtol", "1e-4", "--atol", "1e-4"], capture_output=True, text=True)
        status = "ok  " if r.returncode == 0 else "FAIL"
        print(f"{status} {name}: {a_shape} x {b_shape}, dynamic A dims {dynamic}")
        if r.returncode != 0:
            failures += 1
            print(r.stdout + r.stderr)
    print(f"{len(CASES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
