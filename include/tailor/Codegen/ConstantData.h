//===- ConstantData.h - Raw bytes of constant tensors ---------------------===//

#ifndef TAILOR_CODEGEN_CONSTANTDATA_H
#define TAILOR_CODEGEN_CONSTANTDATA_H

#include "mlir/IR/Attributes.h"

namespace mlir::tailor {

/// The raw little-endian bytes of a dense constant (a resource blob or a
/// non-splat DenseElementsAttr of whole-byte elements); empty otherwise.
/// The bytes live as long as the attribute's context.
ArrayRef<char> getRawConstantBytes(Attribute value);

} // namespace mlir::tailor

#endif // TAILOR_CODEGEN_CONSTANTDATA_H
