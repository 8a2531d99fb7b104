#!/usr/bin/python3
"""Writes a small ONNX QDQ model (weights stored as int8 and dequantized by
DequantizeLinear before MatMul, as ONNX Runtime's quantizer writes them) and
its outputs, for tailor-run --check:

  qdq_model.py OUT_DIR              -> OUT_DIR/qdq.onnx, OUT_DIR/qdq.data/
  qdq_model.py OUT_DIR --bin BIN    also checks Tailor (ctest models-qdq): the
      raised model reads the int8 weights (quant.scast, no DequantizeLinear
      left) and both it and the ONNX-level lowering (--raise=false) match
      the expected outputs within 1e-4 (float32 over three products against
      numpy's float64: both paths are ~4e-5 off where sums cancel)

  y1 = x . DequantizeLinear(q1, scale[48], zero_point[48], axis=1) + b
  y2 = y1 . DequantizeLinear(q2, scale (per tensor))
  y3 = y2 . DequantizeLinear(q3 uint8, scale[24], zero_point uint8[24], axis=1)

The expected outputs are numpy's evaluation of the ONNX definitions
(DequantizeLinear: (q - zero_point) * scale per axis), in float64.
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    k, n1, n2, n3 = 64, 48, 40, 24
    q1 = rng.integers(-128, 128, (k, n1), dtype=np.int8)
    s1 = (rng.random(n1) * 0.02 + 0.001).astype(np.float32)
    z1 = rng.integers(-10, 11, n1, dtype=np.int8)
    b = rng.standard_normal(n1).astype(np.float32)
    q2 = rng.integers(-127, 128, (n1, n2), dtype=np.int8)
    s2 = np.array(0.01, dtype=np.float32)
    # uint8 (ONNX Runtime's older default): zero points around 128.
    q3 = rng.integers(0, 256, (n2, n3), dtype=np.uint8)
    s3 = (rng.random(n3) * 0.02 + 0.001).astype(np.float32)
    z3 = rng.integers(118, 139, n3, dtype=np.uint8)
    inits = [numpy_helper.from_array(a, name) for a, name in
             ((q1, "q1"), (s1, "s1"), (z1, "z1"), (b, "b"), (q2, "q2"), (s2, "s2"),
              (q3, "q3"), (s3, "s3"), (z3, "z3"))]
    nodes = [
        helper.make_node("DequantizeLinear", ["q1", "s1", "z1"], ["w1"], name="/fc1/DequantizeLinear",
                         axis=1),
        helper.make_node("MatMul", ["x", "w1"], ["m1"], name="/fc1/MatMul"),
        helper.make_node("Add", ["m1", "b"], ["y1"], name="/fc1/Add"),
        helper.make_node("DequantizeLinear", ["q2", "s2"], ["w2"], name="/fc2/DequantizeLinear"),
        helper.make_node("MatMul", ["y1", "w2"], ["y2"], name="/fc2/MatMul"),
        helper.make_node("DequantizeLinear", ["q3", "s3", "z3"], ["w3"], name="/fc3/DequantizeLinear",
                         axis=1),
        helper.make_node("MatMul", ["y2", "w3"], ["y3"], name="/fc3/MatMul"),
    ]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", k])],
        [helper.make_tensor_value_info("y3", TensorProto.FLOAT, ["batch", "seq", n3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "qdq.onnx"))

    x = rng.standard_normal((2, 5, k)).astype(np.float32)
    w1 = (q1.astype(np.float64) - z1.astype(np.float64)) * s1.astype(np.float64)
    w2 = q2.astype(np.float64) * float(s2)
    w3 = (q3.astype(np.float64) - z3.astype(np.float64)) * s3.astype(np.float64)
    y3 = (((x.astype(np.float64) @ w1 + b) @ w2) @ w3).astype(np.float32)
    data = os.path.join(out, "qdq.data")
    os.makedirs(data, exist_ok=True)
    for name, arr, i in (("input", x, 0), ("output", y3, 0)):
        with open(os.path.join(data, f"{name}_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, "x" if name == "input" else "y3")
                    .SerializeToString())
    print(f"wrote {out}/qdq.onnx and qdq.data")
    if "--bin" not in sys.argv:
        return 0
    bin_dir = sys.argv[sys.argv.index("--bin") + 1]
    model_path = os.path.join(out, "qdq.onnx")

    def run(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            print(f"FAIL: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
            sys.exit(1)
        return r.stdout
    raised = run([os.path.join(bin_dir, "tailor-compile"), model_path, "--compile-to=raise",
                  "--emit=mlir", "--quiet"])
    if raised.count("quant.scast") != 3 or "DequantizeLinear" in raised:
        print("FAIL: the QDQ weights were not raised to quantized linears")
        return 1
    for flag in ("--raise=true", "--raise=false"):
        print(run([os.path.join(bin_dir, "tailor-run"), model_path, flag, "--check", data,
                   "--rtol", "1e-4", "--atol", "1e-4"]).strip())
    print("ok: 3 QDQ weights (int8, int8, uint8) raised to int8 linears; both paths match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
