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

A second model, OUT_DIR/qdq_ops.onnx, has the integer-op forms ONNX
Runtime's quantizers write, raised to the same int8 linears:

  (xq, xs, xz) = DynamicQuantizeLinear(x)                 (quantize_dynamic)
  y_dyn = Cast(MatMulInteger(xq, q4, xz, z4[24])) * (xs * s4)
  y_q = DequantizeLinear(QLinearMatMul(a, as, az, q5 uint8, s5, z5, ys, yz))

Its inputs sit on the quantization grids and all scales are powers of two,
so every path is exact: the raised model (no MatMulInteger / QLinearMatMul
left) and the ONNX-level lowering must both match numpy to 1e-5.
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
    write_ops_model(out, rng)
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
    ops_path = os.path.join(out, "qdq_ops.onnx")
    raised = run([os.path.join(bin_dir, "tailor-compile"), ops_path, "--compile-to=raise",
                  "--emit=mlir", "--quiet"])
    if (raised.count("quant.scast") != 2 or "MatMulInteger" in raised
            or "QLinearMatMul" in raised):
        print("FAIL: MatMulInteger / QLinearMatMul were not raised to int8 linears")
        return 1
    for flag in ("--raise=true", "--raise=false"):
        print(run([os.path.join(bin_dir, "tailor-run"), ops_path, flag, "--check",
                   os.path.join(out, "qdq_ops.data"), "--rtol", "1e-5", "--atol", "1e-5"]).strip())
    print("ok: dynamic MatMulInteger and QLinearMatMul raised to int8 linears; both paths match")
    return 0


def write_ops_model(out, rng):
    """qdq_ops.onnx: MatMulInteger after DynamicQuantizeLinear, QLinearMatMul."""
    k, n4, n5 = 32, 24, 16
    batch = (2, 5)
    # x on the grid DynamicQuantizeLinear will pick: scale 2^-5, zero point
    # 100 (the integers span 0..255).
    qx = rng.integers(0, 256, batch + (k,))
    qx.flat[0], qx.flat[1] = 0, 255
    x = ((qx - 100) * 2.0 ** -5).astype(np.float32)
    q4 = rng.integers(-128, 128, (k, n4), dtype=np.int8)
    s4 = np.array(2.0 ** -7, dtype=np.float32)
    z4 = rng.integers(-8, 9, n4, dtype=np.int8)
    a = rng.integers(0, 256, batch + (k,), dtype=np.uint8)
    a_s, a_z = np.array(2.0 ** -4, dtype=np.float32), np.array(128, dtype=np.uint8)
    q5 = rng.integers(0, 256, (k, n5), dtype=np.uint8)
    s5 = np.array(2.0 ** -6, dtype=np.float32)
    z5 = np.array(120, dtype=np.uint8)
    y_s, y_z = np.array(2.0 ** 2, dtype=np.float32), np.array(128, dtype=np.uint8)
    inits = [numpy_helper.from_array(v, name) for v, name in
             ((q4, "q4"), (s4, "s4"), (z4, "z4"), (a_s, "a_s"), (a_z, "a_z"), (q5, "q5"),
              (s5, "s5"), (z5, "z5"), (y_s, "y_s"), (y_z, "y_z"))]
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"],
                         name="/fc4/DynamicQuantizeLinear"),
        helper.make_node("MatMulInteger", ["xq", "q4", "xz", "z4"], ["m4"], name="/fc4/MatMulInteger"),
        helper.make_node("Cast", ["m4"], ["c4"], name="/fc4/Cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["xs", "s4"], ["sc4"], name="/fc4/Mul_scale"),
        helper.make_node("Mul", ["c4", "sc4"], ["y_dyn"], name="/fc4/Mul"),
        helper.make_node("QLinearMatMul", ["a", "a_s", "a_z", "q5", "s5", "z5", "y_s", "y_z"], ["yq"],
                         name="/fc5/QLinearMatMul"),
        helper.make_node("DequantizeLinear", ["yq", "y_s", "y_z"], ["y_q"], name="/fc5/Dequantize"),
    ]
    graph = helper.make_graph(
        nodes, "qdq_ops",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", k]),
         helper.make_tensor_value_info("a", TensorProto.UINT8, ["batch", "seq", k])],
        [helper.make_tensor_value_info("y_dyn", TensorProto.FLOAT, ["batch", "seq", n4]),
         helper.make_tensor_value_info("y_q", TensorProto.FLOAT, ["batch", "seq", n5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "qdq_ops.onnx"))

    # The ONNX definitions in float64 / exact integers.
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    scale = np.float32((hi - lo) / 255)
    zp = int(np.clip(np.rint(-lo / scale), 0, 255))
    xq = np.clip(np.rint(x / scale) + zp, 0, 255)
    acc4 = (xq - zp) @ (q4.astype(np.float64) - z4)
    y_dyn = (acc4 * (float(scale) * float(s4))).astype(np.float32)
    acc5 = (a.astype(np.float64) - float(a_z)) @ (q5.astype(np.float64) - float(z5))
    yq = np.clip(np.rint(acc5 * float(a_s) * float(s5) / float(y_s)) + float(y_z), 0, 255)
    y_q = ((yq - float(y_z)) * float(y_s)).astype(np.float32)
    data = os.path.join(out, "qdq_ops.data")
    os.makedirs(data, exist_ok=True)
    for kind, i, arr, name in (("input", 0, x, "x"), ("input", 1, a, "a"),
                               ("output", 0, y_dyn, "y_dyn"), ("output", 1, y_q, "y_q")):
        with open(os.path.join(data, f"{kind}_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, name).SerializeToString())
    print(f"wrote {out}/qdq_ops.onnx and qdq_ops.data")


if __name__ == "__main__":
    sys.exit(main())
