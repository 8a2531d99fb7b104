//===- Signature.h - The inputs and outputs of a compiled model -----------===//
//
// What a caller of compiled code needs to know about the entry function:
// names, ONNX dtypes and shapes (-1 = dynamic). Read from the module while
// its entry is still a func.func on ranked tensors of the tailor dialect
// (after the optimize phase),
// and carried into the JIT's and the shared object's descriptors.

#ifndef TAILOR_TARGET_SIGNATURE_H
#define TAILOR_TARGET_SIGNATURE_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::tailor {

/// One input or output of a model: name, ONNX dtype, shape (-1 = dynamic).
struct TensorSpec {
  std::string name;
  int32_t dtype = 0;
  std::vector<int64_t> shape;
};

struct ModelSignature {
  std::string entry;
  /// As the caller sees them (the ONNX model's inputs and outputs).
  std::vector<TensorSpec> inputs, outputs;
  /// KV caches the compiled entry updates in place (tailor-kv-cache-in-place):
  /// inputs 1..kvCaches, with one more input (the length) than `inputs`
  /// lists, and outputs 1..kvCaches not returned (tailor-c/abi.h).
  int32_t kvCaches = 0;

  /// The entry's inputs as compiled: `inputs`, then the cache length.
  std::vector<TensorSpec> compiledInputs() const;
};

/// The signature of the module's one public function with a body. Errors
/// (no such function, an unranked or unsupported type) are emitted.
FailureOr<ModelSignature> getModelSignature(ModuleOp module);

} // namespace mlir::tailor

#endif // TAILOR_TARGET_SIGNATURE_H
