//===- TailorDialect.cpp - The tailor dialect -----------------------------===//

#include "tailor/Dialect/Tailor.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::tailor;

#include "dialects/Tailor/TailorDialect.cpp.inc"
#include "dialects/Tailor/TailorInterfaces.cpp.inc"

void TailorDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/Tailor/TailorOps.cpp.inc"
      >();
}

Operation *TailorDialect::materializeConstant(OpBuilder &builder,
                                              Attribute value, Type type,
                                              Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return OnnxConstantOp::create(builder, loc, type, elements,
                                /*value_float=*/nullptr,
                                /*value_floats=*/nullptr,
                                /*value_int=*/nullptr, /*value_ints=*/nullptr,
                                /*value_string=*/nullptr,
                                /*value_strings=*/nullptr);
}

Type mlir::tailor::refineTensorType(Type declared, Type inferred) {
  auto a = dyn_cast<TensorType>(declared);
  auto b = dyn_cast<TensorType>(inferred);
  if (!a || !b)
    return declared == inferred ? declared : Type();
  if (a.getElementType() != b.getElementType())
    return nullptr;
  if (!a.hasRank())
    return b;
  if (!b.hasRank())
    return a;
  if (a.getRank() != b.getRank())
    return nullptr;
  SmallVector<int64_t> dims;
  for (auto [x, y] : llvm::zip(a.getShape(), b.getShape())) {
    if (!ShapedType::isDynamic(x) && !ShapedType::isDynamic(y) && x != y)
      return nullptr;
    dims.push_back(ShapedType::isDynamic(x) ? y : x);
  }
  auto ranked = cast<RankedTensorType>(a);
  return RankedTensorType::get(dims, a.getElementType(), ranked.getEncoding());
}

ElementsAttr mlir::tailor::getConstantElements(Value value) {
  auto constant = value.getDefiningOp<OnnxConstantOp>();
  if (!constant)
    return nullptr;
  ElementsAttr elements = constant.getValueAttr();
  if (!elements || elements.getType() != value.getType())
    return nullptr;
  return elements;
}

DenseElementsAttr mlir::tailor::toDenseElements(ElementsAttr attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr))
    return dense;
  auto resource = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!resource)
    return nullptr;
  AsmResourceBlob *blob = resource.getRawHandle().getBlob();
  if (!blob)
    return nullptr;
  ArrayRef<char> data = blob->getData();
  auto type = cast<ShapedType>(resource.getType());
  if (type.getElementType().isInteger(1)) {
    // Resources hold one byte per boolean (the ONNX layout).
    if ((int64_t)data.size() != type.getNumElements())
      return nullptr;
    SmallVector<bool> bools(data.begin(), data.end());
    return DenseElementsAttr::get(type, bools);
  }
  bool detectedSplat = false;
  if (!DenseElementsAttr::isValidRawBuffer(type, data, detectedSplat))
    return nullptr;
  return DenseElementsAttr::getFromRawBuffer(type, data);
}

std::optional<SmallVector<int64_t>>
mlir::tailor::getConstantIntValues(Value value, int64_t maxElements) {
  ElementsAttr elements = getConstantElements(value);
  if (!elements)
    return std::nullopt;
  auto type = cast<ShapedType>(elements.getType());
  if (!type.getElementType().isInteger() || type.getNumElements() > maxElements)
    return std::nullopt;
  DenseElementsAttr dense = toDenseElements(elements);
  if (!dense)
    return std::nullopt;
  SmallVector<int64_t> result;
  bool isUnsigned = type.getElementType().isUnsignedInteger();
  for (const APInt &v : dense.getValues<APInt>())
    result.push_back(isUnsigned ? (int64_t)v.getZExtValue() : v.getSExtValue());
  return result;
}

#define GET_OP_CLASSES
#include "dialects/Tailor/TailorOps.cpp.inc"
