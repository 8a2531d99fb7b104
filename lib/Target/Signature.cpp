//===- Signature.cpp - The inputs and outputs of a compiled model ---------===//

#include "tailor/Target/Signature.h"

#include "tailor/Dialect/OnnxBridge.h"
#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/KVCache.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::tailor;

/// Bytes per element of an ONNX dtype the runtime can pass (0: none).
static int64_t passableSize(int32_t dtype) {
  switch (dtype) {
  case 2: case 3: case 9: return 1;
  case 4: case 5: case 10: case 16: return 2;
  case 1: case 6: case 12: return 4;
  case 7: case 11: case 13: return 8;
  default: return 0;
  }
}

static FailureOr<TensorSpec> specOf(Type type, StringRef name, Location loc) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return emitError(loc) << "'" << name << "' has type " << type
                          << "; only ranked tensors can be run";
  auto dtype = onnxDataTypeOf(ranked.getElementType());
  if (!dtype || !passableSize(*dtype))
    return emitError(loc) << "'" << name << "' has element type "
                          << ranked.getElementType()
                          << ", which cannot be passed to a compiled model";
  TensorSpec spec;
  spec.name = name.str();
  spec.dtype = *dtype;
  for (int64_t d : ranked.getShape())
    spec.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
  return spec;
}

FailureOr<ModelSignature> mlir::tailor::getModelSignature(ModuleOp module) {
  func::FuncOp fn = findEntry(module);
  if (!fn)
    return module.emitError("the module has no public function to compile");
  ModelSignature sig;
  sig.entry = fn.getName().str();
  for (auto [i, type] : llvm::enumerate(fn.getArgumentTypes())) {
    auto name = fn.getArgAttrOfType<StringAttr>(i, "onnx.name");
    auto spec =
        specOf(type, name ? name.getValue() : "input_" + std::to_string(i),
               fn.getLoc());
    if (failed(spec))
      return failure();
    sig.inputs.push_back(*spec);
  }
  for (auto [i, type] : llvm::enumerate(fn.getResultTypes())) {
    auto name = fn.getResultAttrOfType<StringAttr>(i, "onnx.name");
    auto spec =
        specOf(type, name ? name.getValue() : "output_" + std::to_string(i),
               fn.getLoc());
    if (failed(spec))
      return failure();
    sig.outputs.push_back(*spec);
  }
  return sig;
}

std::vector<TensorSpec> ModelSignature::compiledInputs() const {
  std::vector<TensorSpec> all = inputs;
  if (kvCaches > 0)
    all.push_back({kCacheLengthName.str(), /*int64*/ 7, {}});
  return all;
}
