//===- ConstantData.cpp - Raw bytes of constant tensors -------------------===//

#include "tailor/Codegen/ConstantData.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;

ArrayRef<char> mlir::tailor::getRawConstantBytes(Attribute value) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    if (AsmResourceBlob *blob = resource.getRawHandle().getBlob())
      return blob->getData();
    return {};
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    Type elt = dense.getElementType();
    if (dense.isSplat() || !elt.isIntOrFloat() ||
        elt.getIntOrFloatBitWidth() % 8 != 0)
      return {};
    return dense.getRawData();
  }
  return {};
}
