//===- OnnxExporter.h - The tailor dialect back to ONNX --------------------===//
//
// Writes a model in the tailor dialect (after the optimize phase, raised
// with `tailor-raise{phases=1}`) as an ONNX model that other runtimes load:
// ONNX-level ops as they are, linears as MatMul (+ Add) over their final
// weights (merged, pruned; quantized ones as DequantizeLinear or the
// dequantization written out in ONNX ops), activations and norms as their
// ONNX formulas.
//
//===----------------------------------------------------------------------===//

#ifndef TAILOR_EXPORT_ONNXEXPORTER_H
#define TAILOR_EXPORT_ONNXEXPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::tailor {

struct OnnxExportOptions {
  std::string producer = "tailor";
  /// int4 weights: the dequantization in standard ONNX ops (false), or ONNX
  /// Runtime's `com.microsoft.MatMulNBits` with the weights packed two per
  /// byte (true: ONNX Runtime's int4 kernel, but not a standard op).
  bool matMulNBits = false;
};

/// Writes `module`'s public function as an ONNX model (opset 17) to `path`
/// (a temporary file renamed into place: never half written). An op without
/// an ONNX form is an error naming it, at its location.
LogicalResult exportOnnx(ModuleOp module, llvm::StringRef path,
                         const OnnxExportOptions &options);

} // namespace mlir::tailor

#endif // TAILOR_EXPORT_ONNXEXPORTER_H
