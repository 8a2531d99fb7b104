//===- OnnxImporter.h - ONNX models into the tailor dialect ---------------===//

#ifndef TAILOR_IMPORT_ONNXIMPORTER_H
#define TAILOR_IMPORT_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>

namespace mlir::tailor {

struct OnnxImportOptions {
  /// Name of the function the main graph becomes.
  std::string functionName = "main_graph";
  /// Run ONNX's model-level shape inference (with data propagation) before
  /// importing, so that result types are as static as ONNX can make them.
  bool shapeInference = true;
  /// Run the ONNX checker on the model first.
  bool check = true;
};

/// Imports an ONNX model file: binary protobuf (`.onnx`), or the ONNX textual
/// syntax when the name ends in `.onnxtxt`. External-data tensors are read
/// from (and must stay inside) the model's folder; they are memory-mapped.
/// Errors are reported as diagnostics in `context`; returns null on failure.
OwningOpRef<ModuleOp> importOnnxFile(llvm::StringRef path,
                                     MLIRContext *context,
                                     const OnnxImportOptions &options = {});

/// Imports a model held in memory (binary protobuf). `baseDir` resolves
/// external data (empty: external data is refused).
OwningOpRef<ModuleOp> importOnnxBuffer(llvm::StringRef bytes,
                                       llvm::StringRef bufferName,
                                       llvm::StringRef baseDir,
                                       MLIRContext *context,
                                       const OnnxImportOptions &options = {});

} // namespace mlir::tailor

#endif // TAILOR_IMPORT_ONNXIMPORTER_H
