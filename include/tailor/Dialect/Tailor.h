//===- Tailor.h - The tailor dialect --------------------------------------===//

#ifndef TAILOR_DIALECT_TAILOR_H
#define TAILOR_DIALECT_TAILOR_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/Tailor/TailorDialect.h.inc"
#include "dialects/Tailor/TailorInterfaces.h.inc"

namespace mlir::tailor {
/// Verifies an ONNX-level op against its ONNX schema and ONNX's shape
/// inference (see Tailor_OnnxOp in TailorOps.td).
LogicalResult verifyOnnxOp(Operation *op);
/// Result types of an ONNX-level op from ONNX's shape inference, refined with
/// the declared ones.
LogicalResult inferOnnxResultTypes(Operation *op,
                                   SmallVectorImpl<Type> &resultTypes);

/// The more precise of two compatible tensor types; null when incompatible
/// (different element types, ranks or static sizes).
Type refineTensorType(Type declared, Type inferred);

/// The value of `value` when it is produced by a constant op (dense or
/// resource elements); null otherwise.
ElementsAttr getConstantElements(Value value);
/// The integer contents of a constant integer tensor, when small enough.
std::optional<SmallVector<int64_t>> getConstantIntValues(Value value,
                                                         int64_t maxElements = 1 << 16);
/// Dense form of a constant (reads resource blobs); null when unavailable.
DenseElementsAttr toDenseElements(ElementsAttr attr);
} // namespace mlir::tailor

#define GET_OP_CLASSES
#include "dialects/Tailor/TailorOps.h.inc"

#endif // TAILOR_DIALECT_TAILOR_H
