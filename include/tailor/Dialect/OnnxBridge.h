//===- OnnxBridge.h - Conversions between ONNX protos and MLIR ------------===//
//
// Shared by the importer and the ONNX-level ops' verifiers: types,
// attributes and small tensors in both directions, and a call into ONNX's own
// per-op shape inference. Errors are returned as messages; no exception
// escapes these functions.
//
//===----------------------------------------------------------------------===//

#ifndef TAILOR_DIALECT_ONNXBRIDGE_H
#define TAILOR_DIALECT_ONNXBRIDGE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "onnx/defs/schema.h"
#include "onnx/onnx_pb.h"

#include <optional>
#include <string>

namespace mlir::tailor {

/// The ONNX opset whose op versions the tailor dialect defines.
int getSupportedOnnxOpset();
/// The schema of `opType` at the supported opset (null when unknown).
const onnx::OpSchema *lookupOnnxSchema(llvm::StringRef opType);

/// ONNX TensorProto data type <-> MLIR element type (null / nullopt when the
/// type has no MLIR equivalent, e.g. strings).
Type elementTypeFromOnnx(int32_t dataType, MLIRContext *context);
std::optional<int32_t> onnxDataTypeOf(Type elementType);

/// TypeProto <-> MLIR tensor type. Dimensions without a value become `?`; a
/// tensor without a shape is unranked. Non-tensor types give null / false.
Type typeFromOnnx(const onnx::TypeProto &type, MLIRContext *context);
bool typeToOnnx(Type type, onnx::TypeProto &proto);

/// AttributeProto -> MLIR attribute for the non-tensor kinds the dialect
/// uses (int, float, string and lists of them). Returns null and sets `error`
/// for other kinds.
Attribute attributeFromOnnx(const onnx::AttributeProto &attr, Builder &builder,
                            std::string &error);
/// MLIR attribute -> AttributeProto (false when the kind has no ONNX form).
bool attributeToOnnx(llvm::StringRef name, Attribute attr,
                     onnx::AttributeProto &proto);
/// Constant elements -> TensorProto (false when the element type has no ONNX
/// form or the data is unavailable).
bool elementsToOnnx(ElementsAttr attr, onnx::TensorProto &proto);

/// The ONNX node of a `tailor.onnx.*` op: its op type, attributes, and
/// inputs / outputs named by `inputName(operand index)` and
/// `outputName(result index)` ("" for an absent optional one; trailing
/// absent ones left out, as ONNX does). Fails with a diagnostic on the op
/// when an attribute has no ONNX form.
LogicalResult
onnxNodeOf(Operation *op, llvm::function_ref<std::string(unsigned)> inputName,
           llvm::function_ref<std::string(unsigned)> outputName,
           onnx::NodeProto &node);

/// Runs the schema's checks and shape inference on `node`, whose inputs have
/// `inputTypes` (null for an absent optional input) and, where known,
/// constant values `inputData`. On success `resultTypes` holds one type per
/// output (null where ONNX inferred nothing).
bool runOnnxInference(const onnx::OpSchema &schema, const onnx::NodeProto &node,
                      llvm::ArrayRef<Type> inputTypes,
                      llvm::ArrayRef<const onnx::TensorProto *> inputData,
                      unsigned numOutputs, MLIRContext *context,
                      llvm::SmallVectorImpl<Type> &resultTypes,
                      std::string &error);

} // namespace mlir::tailor

#endif // TAILOR_DIALECT_ONNXBRIDGE_H
