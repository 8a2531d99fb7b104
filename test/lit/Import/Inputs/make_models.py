#!/usr/bin/python3
"""Writes the binary ONNX models the importer's lit tests read, good and bad,
into OUT_DIR (see the RUN lines of test/lit/Import/*.test)."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
os.makedirs(os.path.join(out, "sub"), exist_ok=True)


def save(model, name):
    onnx.save(model, os.path.join(out, name))


def matmul_model(weight):
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 3])
    node = helper.make_node("MatMul", ["X", "W"], ["Y"], name="proj")
    graph = helper.make_graph([node], "g", [x], [y], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
good = matmul_model(w)
save(good, "good.onnx")

data = good.SerializeToString()
with open(os.path.join(out, "truncated.onnx"), "wb") as f:
    f.write(data[: len(data) // 2])
with open(os.path.join(out, "garbled.onnx"), "wb") as f:
    f.write(bytes((b * 7 + 3) & 0xFF for b in data))
with open(os.path.join(out, "empty.onnx"), "wb") as f:
    pass


def external(name, location, offset=0, length=48, write=True, file_bytes=48):
    t = TensorProto()
    t.name = "W"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([4, 3])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    if write:
        with open(os.path.join(out, location), "wb") as f:
            f.write(np.arange(12, dtype=np.float32).tobytes()[:file_bytes])
    m = matmul_model(t)
    with open(os.path.join(out, name), "wb") as f:
        f.write(m.SerializeToString())


external("external.onnx", "sub/weights.bin")
external("external-escape.onnx", "../outside.bin")
os.symlink(os.path.join(out, "..", "outside.bin"), os.path.join(out, "sub", "link.bin"))
external("external-symlink.onnx", "sub/link.bin", write=False)
external("external-missing.onnx", "sub/missing.bin", write=False)
external("external-truncated.onnx", "sub/short.bin", file_bytes=20)
external("external-length.onnx", "sub/weights2.bin", length=40)

# A zero-element initializer in typed fields (fuzzer regression: no data
# pointer to copy from).
empty_w = TensorProto()
empty_w.name = "E"
empty_w.data_type = TensorProto.FLOAT
empty_w.dims.extend([0, 3])
xe = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 0])
ye = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 3])
save(helper.make_model(
    helper.make_graph([helper.make_node("MatMul", ["X", "E"], ["Y"], name="mm")],
                      "g", [xe], [ye], [empty_w]),
    opset_imports=[helper.make_opsetid("", 17)]), "empty-initializer.onnx")
