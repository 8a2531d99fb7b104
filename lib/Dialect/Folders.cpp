//===- Folders.cpp - Folders of ONNX-level ops ----------------------------===//
//
// Exporters emit a lot of shape arithmetic (Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape, casts, Where/Equal on shapes). These folders evaluate it
// on small integer constants, and on the static dimensions of partly dynamic
// shapes, so that it disappears under canonicalization. Float tensors fold
// only when small: weights are never rewritten here.
//
//===----------------------------------------------------------------------===//

#include "tailor/Dialect/Tailor.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tailor;

namespace {
/// Folding limit: shape arithmetic is small; weights are not folded.
constexpr int64_t kMaxFoldElements = 1024;

/// A constant operand as dense elements, when it is small enough to fold.
DenseElementsAttr small(Attribute attr) {
  auto elements = dyn_cast_if_present<ElementsAttr>(attr);
  if (!elements || cast<ShapedType>(elements.getType()).getNumElements() >
                       kMaxFoldElements)
    return nullptr;
  return toDenseElements(elements);
}

/// A statically shaped result type (null otherwise).
RankedTensorType staticType(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.hasStaticShape() ? t : nullptr;
}

/// Element values as int64 or double, whichever the type holds.
struct Values {
  bool isFloat = false;
  SmallVector<int64_t> ints;
  SmallVector<double> floats;
  SmallVector<int64_t> shape;
  int64_t size() const { return isFloat ? floats.size() : ints.size(); }
};

std::optional<Values> read(DenseElementsAttr attr) {
  if (!attr)
    return std::nullopt;
  Values v;
  auto type = cast<ShapedType>(attr.getType());
  v.shape.assign(type.getShape().begin(), type.getShape().end());
  Type e = type.getElementType();
  if (auto ft = dyn_cast<FloatType>(e)) {
    v.isFloat = true;
    for (const APFloat &f : attr.getValues<APFloat>())
      v.floats.push_back(f.convertToDouble());
    (void)ft;
    return v;
  }
  auto it = dyn_cast<IntegerType>(e);
  if (!it)
    return std::nullopt;
  for (const APInt &i : attr.getValues<APInt>())
    v.ints.push_back(it.getWidth() == 1 || it.isUnsigned() ? (int64_t)i.getZExtValue()
                                                           : i.getSExtValue());
  return v;
}

/// Builds elements of `type` from int64 or double values.
DenseElementsAttr buildElements(ShapedType type, ArrayRef<int64_t> ints,
                        ArrayRef<double> floats, bool fromFloat) {
  Type e = type.getElementType();
  int64_t n = fromFloat ? floats.size() : ints.size();
  if (n != type.getNumElements())
    return nullptr;
  if (auto ft = dyn_cast<FloatType>(e)) {
    SmallVector<APFloat> out;
    for (int64_t i = 0; i < n; ++i) {
      APFloat f(fromFloat ? floats[i] : (double)ints[i]);
      bool lost;
      f.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
      out.push_back(f);
    }
    return DenseElementsAttr::get(type, out);
  }
  auto it = dyn_cast<IntegerType>(e);
  if (!it)
    return nullptr;
  if (it.getWidth() == 1) {
    SmallVector<bool> out;
    for (int64_t i = 0; i < n; ++i)
      out.push_back(fromFloat ? floats[i] != 0 : ints[i] != 0);
    return DenseElementsAttr::get(type, out);
  }
  SmallVector<APInt> out;
  for (int64_t i = 0; i < n; ++i)
    out.push_back(APInt(it.getWidth(),
                        fromFloat ? (int64_t)floats[i] : ints[i],
                        /*isSigned=*/!it.isUnsigned(), /*implicitTrunc=*/true));
  return DenseElementsAttr::get(type, out);
}

/// Index into an operand of shape `shape` broadcast to `out` (numpy rules).
int64_t broadcastIndex(int64_t linear, ArrayRef<int64_t> out,
                       ArrayRef<int64_t> shape) {
  int64_t index = 0, stride = 1;
  for (int64_t d = (int64_t)out.size() - 1, s = (int64_t)shape.size() - 1;
       d >= 0; --d, --s) {
    int64_t coord = linear % out[d];
    linear /= out[d];
    if (s >= 0) {
      if (shape[s] != 1)
        index += coord * stride;
      stride *= shape[s];
    }
  }
  return index;
}

/// Folds an elementwise op over constant operands with broadcasting.
template <typename IntFn, typename FloatFn>
OpFoldResult foldElementwise(Operation *op, ArrayRef<Attribute> operands,
                             IntFn intFn, FloatFn floatFn) {
  RankedTensorType type = staticType(op->getResult(0));
  if (!type || type.getNumElements() > kMaxFoldElements)
    return {};
  SmallVector<Values> in;
  for (Attribute a : operands) {
    auto v = read(small(a));
    if (!v)
      return {};
    in.push_back(std::move(*v));
  }
  bool isFloat = llvm::any_of(in, [](const Values &v) { return v.isFloat; });
  if (isFloat && !llvm::all_of(in, [](const Values &v) { return v.isFloat; }))
    return {};
  SmallVector<int64_t> ints;
  SmallVector<double> floats;
  ArrayRef<int64_t> out = type.getShape();
  for (int64_t i = 0; i < type.getNumElements(); ++i) {
    if (isFloat) {
      SmallVector<double> args;
      for (const Values &v : in)
        args.push_back(v.floats[broadcastIndex(i, out, v.shape)]);
      std::optional<double> r = floatFn(args);
      if (!r)
        return {};
      floats.push_back(*r);
    } else {
      SmallVector<int64_t> args;
      for (const Values &v : in)
        args.push_back(v.ints[broadcastIndex(i, out, v.shape)]);
      std::optional<int64_t> r = intFn(args);
      if (!r)
        return {};
      ints.push_back(*r);
    }
  }
  // Comparisons produce booleans from either kind.
  bool resultIsFloat = isa<FloatType>(type.getElementType());
  if (isFloat && !resultIsFloat) {
    for (double f : floats)
      ints.push_back((int64_t)f);
    return buildElements(type, ints, {}, false);
  }
  return buildElements(type, ints, floats, isFloat);
}

/// Integer division rounding toward negative infinity (numpy's //, which
/// ONNX Div on integers follows in practice for non-negative shapes).
std::optional<int64_t> divInt(int64_t a, int64_t b) {
  if (b == 0)
    return std::nullopt;
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}

/// Reshapes a constant to a (static) result type.
OpFoldResult reshapeConstant(Attribute operand, Value result) {
  DenseElementsAttr in = small(operand);
  RankedTensorType type = staticType(result);
  if (!in || !type || in.getType().getElementType() != type.getElementType())
    return {};
  return in.reshape(type);
}

/// The dimensions of `v`'s type, when `v` is produced by Shape (with its
/// start/end window applied).
std::optional<SmallVector<int64_t>> shapeOperandDims(Value v) {
  auto shape = v.getDefiningOp<OnnxShapeOp>();
  if (!shape)
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(shape.getData().getType());
  if (!type)
    return std::nullopt;
  int64_t rank = type.getRank();
  auto clamp = [&](int64_t i) {
    if (i < 0)
      i += rank;
    return std::clamp<int64_t>(i, 0, rank);
  };
  int64_t start = clamp(shape.getStart());
  int64_t end = shape.getEnd() ? clamp(*shape.getEnd()) : rank;
  SmallVector<int64_t> dims;
  for (int64_t i = start; i < end; ++i)
    dims.push_back(type.getDimSize(i));
  return dims;
}
} // namespace

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

OpFoldResult OnnxConstantOp::fold(FoldAdaptor) { return getValueAttr(); }

OpFoldResult OnnxShapeOp::fold(FoldAdaptor) {
  std::optional<SmallVector<int64_t>> window = shapeOperandDims(*this);
  if (!window || llvm::any_of(*window, ShapedType::isDynamic))
    return {};
  RankedTensorType type = staticType(getResult());
  if (!type)
    return {};
  return buildElements(type, *window, {}, false);
}

OpFoldResult OnnxSizeOp::fold(FoldAdaptor) {
  auto type = dyn_cast<RankedTensorType>(getData().getType());
  RankedTensorType result = staticType(getResult());
  if (!type || !type.hasStaticShape() || !result)
    return {};
  return buildElements(result, {type.getNumElements()}, {}, false);
}

OpFoldResult OnnxConstantOfShapeOp::fold(FoldAdaptor adaptor) {
  RankedTensorType type = staticType(getResult());
  if (!type)
    return {};
  if (!getValueAttr())
    return DenseElementsAttr::get(type, Builder(getContext()).getZeroAttr(type.getElementType()));
  DenseElementsAttr value = small(getValueAttr());
  if (!value || value.getNumElements() != 1)
    return {};
  return DenseElementsAttr::get(type, *value.value_begin<Attribute>());
}

OpFoldResult OnnxGatherOp::fold(FoldAdaptor adaptor) {
  RankedTensorType type = staticType(getResult());
  auto indices = read(small(adaptor.getIndices()));
  if (!type || !indices || indices->isFloat)
    return {};
  // Gather from a constant, or from the static entries of a Shape.
  std::optional<Values> data = read(small(adaptor.getData()));
  if (!data) {
    std::optional<SmallVector<int64_t>> dims = shapeOperandDims(getData());
    if (!dims)
      return {};
    data = Values();
    data->ints = *dims;
    data->shape = {(int64_t)dims->size()};
  }
  // Only the common 1-D case (shape vectors, token tables are not folded).
  if (data->shape.size() != 1 || getAxis() != 0)
    return {};
  int64_t n = data->shape[0];
  SmallVector<int64_t> ints;
  SmallVector<double> floats;
  for (int64_t i : indices->ints) {
    if (i < 0)
      i += n;
    if (i < 0 || i >= n)
      return {};
    if (data->isFloat)
      floats.push_back(data->floats[i]);
    else if (ShapedType::isDynamic(data->ints[i]))
      return {};
    else
      ints.push_back(data->ints[i]);
  }
  return buildElements(type, ints, floats, data->isFloat);
}

OpFoldResult OnnxSliceOp::fold(FoldAdaptor adaptor) {
  // Identity slices (the whole tensor) fold to the input.
  if (getData().getType() == getType()) {
    if (auto t = dyn_cast<RankedTensorType>(getType());
        t && t.hasStaticShape())
      return getData();
  }
  RankedTensorType type = staticType(getResult());
  auto data = read(small(adaptor.getData()));
  auto starts = read(small(adaptor.getStarts()));
  if (!type || !data || !starts || data->shape.size() != 1 ||
      type.getRank() != 1 || starts->ints.size() != 1)
    return {};
  if (getSteps()) {
    auto steps = read(small(adaptor.getSteps()));
    if (!steps || steps->ints.size() != 1 || steps->ints[0] != 1)
      return {};
  }
  int64_t n = data->shape[0];
  int64_t start = starts->ints[0];
  if (start < 0)
    start += n;
  start = std::clamp<int64_t>(start, 0, n);
  int64_t count = type.getDimSize(0);
  if (start + count > n)
    return {};
  SmallVector<int64_t> ints;
  SmallVector<double> floats;
  for (int64_t i = start; i < start + count; ++i) {
    if (data->isFloat)
      floats.push_back(data->floats[i]);
    else
      ints.push_back(data->ints[i]);
  }
  return buildElements(type, ints, floats, data->isFloat);
}

OpFoldResult OnnxConcatOp::fold(FoldAdaptor adaptor) {
  if (getInputs().size() == 1 && getInputs()[0].getType() == getType())
    return getInputs()[0];
  RankedTensorType type = staticType(getResult());
  if (!type || type.getRank() != 1 || type.getNumElements() > kMaxFoldElements)
    return {};
  SmallVector<int64_t> ints;
  SmallVector<double> floats;
  bool isFloat = isa<FloatType>(type.getElementType());
  for (auto [value, attr] : llvm::zip(getInputs(), adaptor.getInputs())) {
    std::optional<Values> v = read(small(attr));
    if (!v) {
      // Shape(x) with static dims is as good as a constant.
      std::optional<SmallVector<int64_t>> dims = shapeOperandDims(value);
      if (!dims || llvm::any_of(*dims, ShapedType::isDynamic))
        return {};
      v = Values();
      v->ints = *dims;
    }
    ints.append(v->ints);
    floats.append(v->floats);
  }
  return buildElements(type, ints, floats, isFloat);
}

OpFoldResult OnnxUnsqueezeOp::fold(FoldAdaptor adaptor) {
  return reshapeConstant(adaptor.getData(), getResult());
}

OpFoldResult OnnxSqueezeOp::fold(FoldAdaptor adaptor) {
  if (getData().getType() == getType() && staticType(getResult()))
    return getData();
  return reshapeConstant(adaptor.getData(), getResult());
}

OpFoldResult OnnxReshapeOp::fold(FoldAdaptor adaptor) {
  if (getData().getType() == getType() && staticType(getResult()))
    return getData();
  return reshapeConstant(adaptor.getData(), getResult());
}

OpFoldResult OnnxExpandOp::fold(FoldAdaptor adaptor) {
  // Expanding to the input's own static shape is a no-op.
  if (getInput().getType() == getType() && staticType(getResult()))
    return getInput();
  RankedTensorType type = staticType(getResult());
  DenseElementsAttr in = small(adaptor.getInput());
  if (type && in && in.isSplat() && type.getNumElements() <= kMaxFoldElements)
    return DenseElementsAttr::get(type, in.getSplatValue<Attribute>());
  return {};
}

OpFoldResult OnnxIdentityOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

LogicalResult OnnxDropoutOp::fold(FoldAdaptor adaptor,
                                  SmallVectorImpl<OpFoldResult> &results) {
  // In inference (no training_mode, or a constant false) Dropout is the
  // identity; its mask, when asked for, is all true.
  if (Value training = getTrainingMode()) {
    auto mode = read(small(adaptor.getTrainingMode()));
    if (!mode || mode->ints.size() != 1 || mode->ints[0] != 0)
      return failure();
  }
  if (getNumResults() != 1 || getData().getType() != getResult(0).getType())
    return failure();
  results.push_back(getData());
  return success();
}

OpFoldResult OnnxCastOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  RankedTensorType type = staticType(getResult());
  auto in = read(small(adaptor.getInput()));
  if (!type || !in)
    return {};
  return buildElements(type, in->ints, in->floats, in->isFloat);
}

//===----------------------------------------------------------------------===//
// Elementwise arithmetic on small constants
//===----------------------------------------------------------------------===//

namespace {
using IntArgs = ArrayRef<int64_t>;
using FloatArgs = ArrayRef<double>;
} // namespace

#define TAILOR_FOLD_BINARY(OP, INT_EXPR, FLOAT_EXPR)                           \
  OpFoldResult OP::fold(FoldAdaptor adaptor) {                                 \
    return foldElementwise(                                                    \
        *this, adaptor.getOperands(),                                          \
        [](IntArgs v) -> std::optional<int64_t> { INT_EXPR; },                 \
        [](FloatArgs v) -> std::optional<double> { FLOAT_EXPR; });             \
  }

TAILOR_FOLD_BINARY(OnnxAddOp, return v[0] + v[1], return v[0] + v[1])
TAILOR_FOLD_BINARY(OnnxSubOp, return v[0] - v[1], return v[0] - v[1])
TAILOR_FOLD_BINARY(OnnxMulOp, return v[0] * v[1], return v[0] * v[1])
TAILOR_FOLD_BINARY(OnnxDivOp, return divInt(v[0], v[1]), return v[0] / v[1])
TAILOR_FOLD_BINARY(OnnxModOp, if (v[1] == 0) return std::nullopt;
                   int64_t r = v[0] % v[1];
                   return (r != 0 && ((r < 0) != (v[1] < 0))) ? r + v[1] : r,
                   return std::nullopt)
TAILOR_FOLD_BINARY(OnnxEqualOp, return v[0] == v[1], return v[0] == v[1])
TAILOR_FOLD_BINARY(OnnxLessOp, return v[0] < v[1], return v[0] < v[1])
TAILOR_FOLD_BINARY(OnnxGreaterOp, return v[0] > v[1], return v[0] > v[1])
TAILOR_FOLD_BINARY(OnnxWhereOp, return v[0] ? v[1] : v[2],
                   return std::nullopt)
TAILOR_FOLD_BINARY(OnnxNotOp, return !v[0], return std::nullopt)
TAILOR_FOLD_BINARY(OnnxNegOp, return -v[0], return -v[0])
TAILOR_FOLD_BINARY(OnnxSqrtOp, return std::nullopt, return std::sqrt(v[0]))
TAILOR_FOLD_BINARY(OnnxMaxOp, return *std::max_element(v.begin(), v.end()),
                   return *std::max_element(v.begin(), v.end()))
TAILOR_FOLD_BINARY(OnnxMinOp, return *std::min_element(v.begin(), v.end()),
                   return *std::min_element(v.begin(), v.end()))

OpFoldResult OnnxRangeOp::fold(FoldAdaptor adaptor) {
  RankedTensorType type = staticType(getResult());
  auto start = read(small(adaptor.getStart()));
  auto delta = read(small(adaptor.getDelta()));
  if (!type || !start || !delta || start->isFloat || start->size() != 1 ||
      delta->size() != 1)
    return {};
  SmallVector<int64_t> ints;
  for (int64_t i = 0; i < type.getNumElements(); ++i)
    ints.push_back(start->ints[0] + i * delta->ints[0]);
  return buildElements(type, ints, {}, false);
}
