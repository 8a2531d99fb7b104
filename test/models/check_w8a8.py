#!/usr/bin/python3
"""W8A8 semantics end to end, both lowerings: a model with two linears,
x [2, 5, 16] . W1 [16, 16] (N a multiple of 16: the int8 x int8 kernel
tailor_q8_matmul) and . W2 [16, 12] (N = 12: the fallback, activations
rounded to their int8 grid then the weight-only int8 product), compiled
with tailor-compile --quantize=w8a8 and run by tailor-run --check against
numpy's evaluation of the documented formula (dialects/Tailor/
TailorLLMOps.td, tailor.linear): W per output column s_n = max|W[:, n]| /
127, q = round_half_even(W / s); x per row a_r = max|x_r| / 127,
xq = clamp(round_half_even(x / a_r), -127, 127); y = sum_k (a_r xq)(s_n q)
in float64. The inputs are chosen so that no x / a_r lands within 1e-3 of
a rounding tie (float32 and float64 then round alike).

  check_w8a8.py WORK --bin BIN   (ctest models-w8a8)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import run  # noqa: E402


def quantize_rows(x):
    a = np.abs(x).max(axis=-1, keepdims=True) / 127.0
    a = np.where(a == 0, 1.0, a)
    return a, np.clip(np.rint(x / a), -127, 127)


def main():
    work, bin_dir = sys.argv[1], sys.argv[sys.argv.index("--bin") + 1]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(11)
    k = 16
    w1 = rng.standard_normal((k, 16)).astype(np.float32)
    w2 = rng.standard_normal((16, 12)).astype(np.float32)
    # Inputs away from rounding ties, in float32 arithmetic as well.
    while True:
        x = rng.standard_normal((2, 5, k)).astype(np.float32)
        a, _ = quantize_rows(x.astype(np.float64))
        frac = np.abs((x / a) - np.floor(x / a) - 0.5)
        if frac.min() > 1e-3:
            break
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="/fc1/MatMul"),
             helper.make_node("MatMul", ["h", "w2"], ["y"], name="/fc2/MatMul")]
    graph = helper.make_graph(
        nodes, "w8a8", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", k])],
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["b", "s", 16]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", 12])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = os.path.join(work, "w8a8.onnx")
    onnx.save(model, path)

    def linear(x, w):
        s = np.abs(w.astype(np.float64)).max(axis=0) / 127.0
        q = np.rint(w / s)
        a, xq = quantize_rows(x.astype(np.float64))
        return (a * xq) @ (s * q)
    h = linear(x, w1)
    # The second linear quantizes the first one's float32 result: check
    # that it, too, is away from ties (else the test would be ill-posed).
    h32 = h.astype(np.float32)
    a2, _ = quantize_rows(h32.astype(np.float64))
    if np.abs((h32 / a2) - np.floor(h32 / a2) - 0.5).min() < 1e-3:
        print("FAIL: the test's hidden activations land on a rounding tie; "
              "change the seed")
        return 1
    y = linear(h32, w2)
    data = os.path.join(work, "w8a8.data")
    os.makedirs(data, exist_ok=True)
    for kind, i, arr, name in (("input", 0, x, "x"), ("output", 0, h32, "h"),
                               ("output", 1, y.astype(np.float32), "y")):
        with open(os.path.join(data, f"{kind}_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, name).SerializeToString())
    so = os.path.join(work, "w8a8.so")
    run([os.path.join(bin_dir, "tailor-compile"), path, "--quantize=w8a8", "-o", so, "--quiet"])
    mlir = run([os.path.join(bin_dir, "tailor-compile"), path, "--quantize=w8a8",
                "--compile-to=linalg", "--quiet"])
    kernels = mlir.count('library_call = "tailor_q8_matmul"')
    if kernels != 1:
        print(f"FAIL: expected the int8 x int8 kernel for exactly one linear, found {kernels}")
        return 1
    print(run([os.path.join(bin_dir, "tailor-run"), so, "--check", data,
               "--rtol", "1e-5", "--atol", "1e-5"]).strip())
    print("ok: W8A8 kernel (N = 16) and fallback (N = 12) match the formula")
    return 0


if __name__ == "__main__":
    sys.exit(main())
