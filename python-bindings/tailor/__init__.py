"""Tailor: compile ONNX language models ahead of time and run them.

    import tailor
    tailor.compile("model.onnx", "model.so")       # import -> optimize -> .so
    m = tailor.load("model.so")
    out = m.run({"input_ids": ids})                # {name: numpy.ndarray}
    tokens = m.generate([1, 2, 3], max_new_tokens=16)   # causal LMs

Errors from the compiler or the runtime raise tailor.TailorError, whose
`status` names the runtime's status (e.g. "shape_mismatch").
"""

from ._tailor import (  # noqa: F401
    Model,
    RankAllocator,
    Session,
    TailorError,
    compile,
    load,
)

__all__ = ["Model", "RankAllocator", "Session", "TailorError", "compile", "load"]
