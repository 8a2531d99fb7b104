//===- DataMovement.cpp - Shape, indexing and copy ops to tensor/linalg ---===//
//
// Sizes that are only known at run time (dynamic dims, shape tensors computed
// by the graph) are computed at run time; nothing here assumes static shapes.

#include "Utils.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {
Value toValue(OpBuilder &b, Location loc, OpFoldResult ofr) {
  return getValueOrCreateConstantIndexOp(b, loc, ofr);
}

/// `input` reshaped (same element order) to `dims`.
Value reshapeTo(OpBuilder &b, Location loc, Value input,
                ArrayRef<OpFoldResult> dims, RankedTensorType resultType) {
  if (input.getType() == resultType && resultType.hasStaticShape())
    return input;
  // A 0-d tensor holds one element: expanding or collapsing with an empty
  // reassociation says so exactly (memref.reshape of 0-d memrefs is not
  // handled by expand-strided-metadata).
  auto inType = cast<RankedTensorType>(input.getType());
  if (inType.getRank() == 0 && resultType.hasStaticShape())
    return tensor::ExpandShapeOp::create(b, loc, resultType, input,
                                         ArrayRef<ReassociationIndices>{});
  if (resultType.getRank() == 0 && inType.hasStaticShape())
    return tensor::CollapseShapeOp::create(b, loc, resultType, input,
                                           ArrayRef<ReassociationIndices>{});
  SmallVector<Value> sizes;
  for (OpFoldResult d : dims)
    sizes.push_back(toValue(b, loc, d));
  auto shapeType =
      RankedTensorType::get({(int64_t)sizes.size()}, b.getIndexType());
  Value shape = tensor::FromElementsOp::create(b, loc, shapeType, sizes);
  return tensor::ReshapeOp::create(b, loc, resultType, input, shape);
}

struct ConstantLowering : OpConversionPattern<OnnxConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxConstantOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    auto value = op.getValueAttr();
    if (!value)
      return rewriter.notifyMatchFailure(op, "only `value` constants");
    TypedAttr attr;
    // Small resource constants become dense: upstream folders iterate
    // constants as DenseElementsAttr (resource blobs cannot be iterated).
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(value))
      if (resource.getNumElements() <= 1024)
        if (DenseElementsAttr dense = toDenseElements(resource))
          value = dense;
    if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
      attr = dense.getType() == *type ? dense
                                      : dense.bitcast(type->getElementType());
      if (cast<ShapedType>(attr.getType()) != *type)
        attr = cast<DenseElementsAttr>(attr).reshape(*type);
    } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
      attr = DenseResourceElementsAttr::get(*type, resource.getRawHandle());
    } else {
      return rewriter.notifyMatchFailure(op, "unsupported constant attribute");
    }
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, *type, attr);
    return success();
  }
};

/// Identity, and Dropout in inference (its optional mask is all true).
struct IdentityLowering : ConversionPattern {
  IdentityLowering(const TypeConverter &tc, MLIRContext *ctx, StringRef name)
      : ConversionPattern(tc, name, 1, ctx) {}
  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    // Dropout in training mode (random masks) is not lowered.
    if (auto dropout = dyn_cast<OnnxDropoutOp>(op))
      if (Value mode = dropout.getTrainingMode()) {
        auto values = getConstantIntValues(mode);
        if (!values || llvm::any_of(*values, [](int64_t v) { return v; }))
          return rewriter.notifyMatchFailure(op, "training mode");
      }
    SmallVector<Value> results{operands[0]};
    if (op->getNumResults() == 2) {
      auto type = convertedResultType(*getTypeConverter(), rewriter, op, 1);
      if (failed(type))
        return failure();
      Location loc = op->getLoc();
      Value t =
          arith::ConstantIntOp::create(rewriter, loc, rewriter.getI1Type(), 1);
      Value mask =
          filledTensor(rewriter, loc, getDims(rewriter, loc, operands[0]), t);
      mask = castTo(rewriter, loc, mask, *type);
      results.push_back(mask);
    }
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    results[0] = castTo(rewriter, op->getLoc(), results[0], *type);
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct ReshapeLowering : OpConversionPattern<OnnxReshapeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxReshapeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value data = adaptor.getData();
    auto inType = cast<RankedTensorType>(data.getType());
    bool allowZero = op.getAllowzero() != 0;
    int64_t rank = type->getRank();
    // Runtime sizes: 0 copies the input's size (unless allowzero), -1 takes
    // what is left of the element count.
    Value total = indexConst(rewriter, loc, 1);
    for (int64_t i = 0; i < inType.getRank(); ++i)
      total = arith::MulIOp::create(rewriter, loc, total,
                                    getDimValue(rewriter, loc, data, i));
    SmallVector<Value> sizes;
    Value zero = indexConst(rewriter, loc, 0);
    Value minusOne = indexConst(rewriter, loc, -1);
    Value known = indexConst(rewriter, loc, 1);
    for (int64_t i = 0; i < rank; ++i) {
      Value s = extractIndex(rewriter, loc, adaptor.getShape(), i);
      if (!allowZero && i < inType.getRank()) {
        Value isZero = arith::CmpIOp::create(rewriter, loc,
                                             arith::CmpIPredicate::eq, s, zero);
        s = arith::SelectOp::create(rewriter, loc, isZero,
                                    getDimValue(rewriter, loc, data, i), s);
      }
      sizes.push_back(s);
      Value isInfer = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::eq, s, minusOne);
      Value factor = arith::SelectOp::create(rewriter, loc, isInfer,
                                             indexConst(rewriter, loc, 1), s);
      known = arith::MulIOp::create(rewriter, loc, known, factor);
    }
    Value safeKnown = arith::MaxSIOp::create(rewriter, loc, known,
                                             indexConst(rewriter, loc, 1));
    Value inferred = arith::DivSIOp::create(rewriter, loc, total, safeKnown);
    SmallVector<OpFoldResult> dims;
    for (int64_t i = 0; i < rank; ++i) {
      if (!type->isDynamicDim(i)) {
        dims.push_back(rewriter.getIndexAttr(type->getDimSize(i)));
        continue;
      }
      Value isInfer = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::eq, sizes[i], minusOne);
      dims.push_back(
          arith::SelectOp::create(rewriter, loc, isInfer, inferred, sizes[i])
              .getResult());
    }
    // The new shape must hold the input's elements (a shape computed at
    // run time could disagree; reading past the data would be silent).
    Value count = indexConst(rewriter, loc, 1);
    for (OpFoldResult d : dims)
      count = arith::MulIOp::create(
          rewriter, loc, count,
          getValueOrCreateConstantIndexOp(rewriter, loc, d));
    Value same = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                       count, total);
    std::string node;
    if (auto name = dyn_cast<NameLoc>(loc))
      node = (" ('" + name.getName().getValue() + "')").str();
    cf::AssertOp::create(rewriter, loc, same,
                         "Reshape" + node +
                             ": the new shape holds a different number of "
                             "elements than the input");
    rewriter.replaceOp(op, reshapeTo(rewriter, loc, data, dims, *type));
    return success();
  }
};

/// Reassociation of a rank-`rank` shape onto the dims at positions `kept`:
/// every other (unit) position joins the group of the next kept position,
/// trailing ones the last group.
SmallVector<ReassociationIndices> unitDimGroups(int64_t rank,
                                                ArrayRef<int64_t> kept) {
  SmallVector<ReassociationIndices> groups;
  if (kept.empty())
    return groups;
  ReassociationIndices pending;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i) {
    pending.push_back(i);
    if (next < kept.size() && kept[next] == i) {
      groups.push_back(pending);
      pending.clear();
      ++next;
    }
  }
  groups.back().append(pending.begin(), pending.end());
  return groups;
}

/// Flatten, Squeeze and Unsqueeze: the result sizes follow from the input's.
struct ShapeOnlyReshape : ConversionPattern {
  ShapeOnlyReshape(const TypeConverter &tc, MLIRContext *ctx, StringRef name)
      : ConversionPattern(tc, name, 1, ctx) {}
  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op->getLoc();
    Value data = operands[0];
    auto inType = cast<RankedTensorType>(data.getType());
    int64_t inRank = inType.getRank(), rank = type->getRank();
    SmallVector<OpFoldResult> inDims = getDims(rewriter, loc, data), dims;
    // Squeeze/Unsqueeze: positions of the higher-rank side that carry the
    // lower-rank side's dims, in order.
    SmallVector<int64_t> kept;
    if (isa<OnnxFlattenOp>(op)) {
      auto axis = op->getAttrOfType<IntegerAttr>("axis").getInt();
      if (axis < 0)
        axis += inRank;
      Value outer = indexConst(rewriter, loc, 1),
            inner = indexConst(rewriter, loc, 1);
      for (int64_t i = 0; i < inRank; ++i) {
        Value d = toValue(rewriter, loc, inDims[i]);
        Value &acc = i < axis ? outer : inner;
        acc = arith::MulIOp::create(rewriter, loc, acc, d);
      }
      dims = {outer, inner};
    } else {
      std::optional<SmallVector<int64_t>> axes;
      if (op->getNumOperands() > 1)
        axes = getConstantIntValues(op->getOperand(1));
      if (op->getNumOperands() > 1 && !axes)
        return rewriter.notifyMatchFailure(op, "axes are not constant");
      if (isa<OnnxSqueezeOp>(op)) {
        SmallVector<int64_t> drop;
        if (axes)
          for (int64_t a : *axes)
            drop.push_back(a < 0 ? a + inRank : a);
        for (int64_t i = 0; i < inRank; ++i) {
          bool dropped =
              axes ? llvm::is_contained(drop, i) : inType.getDimSize(i) == 1;
          if (!dropped) {
            dims.push_back(inDims[i]);
            kept.push_back(i);
          }
        }
      } else { // Unsqueeze
        SmallVector<int64_t> insert;
        for (int64_t a : *axes)
          insert.push_back(a < 0 ? a + rank : a);
        int64_t next = 0;
        for (int64_t i = 0; i < rank; ++i) {
          bool inserted = llvm::is_contained(insert, i);
          dims.push_back(inserted ? OpFoldResult(rewriter.getIndexAttr(1))
                                  : inDims[next++]);
          if (!inserted)
            kept.push_back(i);
        }
      }
    }
    if ((int64_t)dims.size() != rank)
      return rewriter.notifyMatchFailure(op, "rank mismatch");
    for (int64_t i = 0; i < rank; ++i)
      if (!type->isDynamicDim(i))
        dims[i] = rewriter.getIndexAttr(type->getDimSize(i));
    // Squeeze and Unsqueeze only add or drop unit dims: an expand/collapse
    // with the exact reassociation (which later passes see through).
    bool scalarSide = !isa<OnnxFlattenOp>(op) &&
                      (inRank == 0 || (rank == 0 && inType.hasStaticShape()));
    if (!kept.empty() || scalarSide) {
      SmallVector<ReassociationIndices> groups = unitDimGroups(
          std::max(inRank, rank), kept);
      if (rank > inRank)
        rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, *type, data,
                                                           groups, dims);
      else
        rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, *type, data,
                                                             groups);
      return success();
    }
    rewriter.replaceOp(op, reshapeTo(rewriter, loc, data, dims, *type));
    return success();
  }
};

struct TransposeLowering : OpConversionPattern<OnnxTransposeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxTransposeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    int64_t rank = type->getRank();
    SmallVector<int64_t> perm;
    if (auto p = op.getPermAttr())
      perm.assign(p.asArrayRef().begin(), p.asArrayRef().end());
    else
      for (int64_t i = rank - 1; i >= 0; --i)
        perm.push_back(i);
    SmallVector<OpFoldResult> inDims =
        getDims(rewriter, loc, adaptor.getData());
    SmallVector<OpFoldResult> dims;
    for (int64_t p : perm)
      dims.push_back(inDims[p]);
    Value init = emptyTensor(rewriter, loc, dims, type->getElementType());
    init = castTo(rewriter, loc, init, *type);
    Value r = linalg::TransposeOp::create(rewriter, loc, adaptor.getData(),
                                          init, perm)
                  .getResult()[0];
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct ConcatLowering : OpConversionPattern<OnnxConcatOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxConcatOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    int64_t rank = type->getRank();
    auto axis = normalizeAxis(op.getAxis(), rank);
    if (!axis)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    ValueRange inputs = adaptor.getInputs();
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, inputs[0]);
    Value total = indexConst(rewriter, loc, 0);
    for (Value in : inputs)
      total = arith::AddIOp::create(rewriter, loc, total,
                                    getDimValue(rewriter, loc, in, *axis));
    dims[*axis] = total;
    for (int64_t i = 0; i < rank; ++i)
      if (!type->isDynamicDim(i))
        dims[i] = rewriter.getIndexAttr(type->getDimSize(i));
    Value result = emptyTensor(rewriter, loc, dims, type->getElementType());
    result = castTo(rewriter, loc, result, *type);
    Value offset = indexConst(rewriter, loc, 0);
    for (Value in : inputs) {
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
      offsets[*axis] = offset;
      SmallVector<OpFoldResult> sizes = getDims(rewriter, loc, in);
      SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
      result = tensor::InsertSliceOp::create(rewriter, loc, in, result, offsets,
                                             sizes, strides);
      offset = arith::AddIOp::create(rewriter, loc, offset,
                                     getDimValue(rewriter, loc, in, *axis));
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Slice with ONNX clamping. Positive constant steps become an
/// extract_slice; other steps a gather-like generic.
struct SliceLowering : OpConversionPattern<OnnxSliceOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxSliceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value data = adaptor.getData();
    int64_t rank = type->getRank();
    auto startsType = cast<RankedTensorType>(adaptor.getStarts().getType());
    // The number of sliced axes: the starts' length, or the constant axes'.
    int64_t n = startsType.getDimSize(0);
    if (startsType.isDynamicDim(0)) {
      auto constantAxes =
          op.getAxes() ? getConstantIntValues(op.getAxes()) : std::nullopt;
      if (!constantAxes)
        return rewriter.notifyMatchFailure(op, "unknown number of starts");
      n = constantAxes->size();
    }
    SmallVector<int64_t> axes;
    if (op.getAxes()) {
      auto values = getConstantIntValues(op.getAxes());
      if (!values)
        return rewriter.notifyMatchFailure(op, "axes are not constant");
      for (int64_t a : *values) {
        auto na = normalizeAxis(a, rank);
        if (!na)
          return rewriter.notifyMatchFailure(op, "axis out of range");
        axes.push_back(*na);
      }
    } else {
      for (int64_t i = 0; i < n; ++i)
        axes.push_back(i);
    }
    std::optional<SmallVector<int64_t>> constSteps;
    if (op.getSteps())
      constSteps = getConstantIntValues(op.getSteps());
    else
      constSteps = SmallVector<int64_t>(n, 1);
    bool positive = constSteps &&
                    llvm::all_of(*constSteps, [](int64_t s) { return s > 0; });

    SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = getDims(rewriter, loc, data);
    SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
    SmallVector<Value> stepValues(rank, indexConst(rewriter, loc, 1));
    Value zero = indexConst(rewriter, loc, 0);
    Value one = indexConst(rewriter, loc, 1);
    Value minusOne = indexConst(rewriter, loc, -1);
    for (auto [k, axis] : llvm::enumerate(axes)) {
      Value dim = getDimValue(rewriter, loc, data, axis);
      Value step = constSteps
                       ? indexConst(rewriter, loc, (*constSteps)[k])
                       : extractIndex(rewriter, loc, adaptor.getSteps(), k);
      Value start = extractIndex(rewriter, loc, adaptor.getStarts(), k);
      Value end = extractIndex(rewriter, loc, adaptor.getEnds(), k);
      Value stepNeg = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::slt, step, zero);
      // Negative values count from the end; then clamp to [0, dim] for
      // positive steps and [-1, dim - 1] for negative ones.
      auto normalize = [&](Value v) -> Value {
        Value isNeg = arith::CmpIOp::create(rewriter, loc,
                                            arith::CmpIPredicate::slt, v, zero);
        Value plus = arith::AddIOp::create(rewriter, loc, v, dim);
        v = arith::SelectOp::create(rewriter, loc, isNeg, plus, v);
        Value lo =
            arith::SelectOp::create(rewriter, loc, stepNeg, minusOne, zero);
        Value dimMinusOne = arith::SubIOp::create(rewriter, loc, dim, one);
        Value hi =
            arith::SelectOp::create(rewriter, loc, stepNeg, dimMinusOne, dim);
        v = arith::MaxSIOp::create(rewriter, loc, v, lo);
        return arith::MinSIOp::create(rewriter, loc, v, hi);
      };
      // Very large ends (INT64_MAX) would overflow `v + dim` only when
      // negative; positive ones are clamped directly.
      start = normalize(start);
      end = normalize(end);
      // size = max(0, ceil((end - start) / step))
      Value diff = arith::SubIOp::create(rewriter, loc, end, start);
      Value adj = arith::SelectOp::create(
          rewriter, loc, stepNeg,
          arith::AddIOp::create(rewriter, loc, step, one),
          arith::SubIOp::create(rewriter, loc, step, one));
      Value num = arith::AddIOp::create(rewriter, loc, diff, adj);
      Value size = arith::DivSIOp::create(rewriter, loc, num, step);
      size = arith::MaxSIOp::create(rewriter, loc, size, zero);
      offsets[axis] = start;
      sizes[axis] = size;
      strides[axis] = step;
      stepValues[axis] = step;
    }
    for (int64_t i = 0; i < rank; ++i)
      if (!type->isDynamicDim(i))
        sizes[i] = rewriter.getIndexAttr(type->getDimSize(i));
    if (positive) {
      // The slice's own type may be more static than the op's (a size the
      // lowering knows, e.g. an unsliced static dim): cast to the op's.
      Value r = tensor::ExtractSliceOp::create(rewriter, loc, data, offsets,
                                               sizes, strides);
      rewriter.replaceOp(op, castTo(rewriter, loc, r, *type));
      return success();
    }
    Value init = emptyTensor(rewriter, loc, sizes, type->getElementType());
    init = castTo(rewriter, loc, init, *type);
    SmallVector<Value> offsetValues;
    for (OpFoldResult o : offsets)
      offsetValues.push_back(toValue(rewriter, loc, o));
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*type}, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{rewriter.getMultiDimIdentityMap(rank)}, iters,
        [&](OpBuilder &b, Location l, ValueRange) {
          SmallVector<Value> idx;
          for (int64_t i = 0; i < rank; ++i) {
            Value j = linalg::IndexOp::create(b, l, i);
            Value scaled = arith::MulIOp::create(b, l, j, stepValues[i]);
            idx.push_back(arith::AddIOp::create(b, l, offsetValues[i], scaled));
          }
          linalg::YieldOp::create(
              b, l, tensor::ExtractOp::create(b, l, data, idx).getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// Gather along one axis; indices are wrapped (negative) and checked (an
/// index out of range fails the run), so a
/// bad index never reads outside the tensor.
struct GatherLowering : ConversionPattern {
  GatherLowering(const TypeConverter &tc, MLIRContext *ctx, StringRef name)
      : ConversionPattern(tc, name, 1, ctx) {}
  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op->getLoc();
    Value data = operands[0], indices = operands[1];
    auto dataType = cast<RankedTensorType>(data.getType());
    auto idxType = cast<RankedTensorType>(indices.getType());
    int64_t axis = 0;
    if (auto a = op->getAttrOfType<IntegerAttr>("axis"))
      axis = a.getInt();
    auto na = normalizeAxis(axis, dataType.getRank());
    if (!na)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    axis = *na;
    int64_t q = idxType.getRank(), rank = type->getRank();
    SmallVector<OpFoldResult> dataDims = getDims(rewriter, loc, data);
    SmallVector<OpFoldResult> idxDims = getDims(rewriter, loc, indices);
    SmallVector<OpFoldResult> dims(dataDims.begin(), dataDims.begin() + axis);
    dims.append(idxDims.begin(), idxDims.end());
    dims.append(dataDims.begin() + axis + 1, dataDims.end());
    Value init = emptyTensor(rewriter, loc, dims, type->getElementType());
    init = castTo(rewriter, loc, init, *type);
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<AffineExpr> idxExprs;
    for (int64_t i = 0; i < q; ++i)
      idxExprs.push_back(getAffineDimExpr(axis + i, ctx));
    SmallVector<AffineMap> maps{AffineMap::get(rank, 0, idxExprs, ctx),
                                rewriter.getMultiDimIdentityMap(rank)};
    Value axisSize = getDimValue(rewriter, loc, data, axis);
    // An embedding table quantized per row (tailor-quantize): the row's
    // integers, converted, minus its zero point, times its scale.
    Value scales, zeroPoints;
    if (auto quantized = dyn_cast<quant::UniformQuantizedPerAxisType>(
            getElementTypeOrSelf(op->getOperand(0).getType()))) {
      if (axis != 0 || quantized.getQuantizedDimension() != 0 ||
          !quantized.getStorageType().isInteger(8))
        return rewriter.notifyMatchFailure(op, "not an i8 per-row table");
      auto vector = [&](auto values) {
        SmallVector<float> v(values.begin(), values.end());
        auto t = RankedTensorType::get({int64_t(v.size())},
                                       rewriter.getF32Type());
        return arith::ConstantOp::create(
            rewriter, loc, DenseElementsAttr::get(t, ArrayRef<float>(v)));
      };
      scales = vector(quantized.getScales());
      if (llvm::any_of(quantized.getZeroPoints(),
                       [](int64_t z) { return z != 0; }))
        zeroPoints = vector(quantized.getZeroPoints());
    }
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*type}, ValueRange{indices}, ValueRange{init},
        maps, iters, [&](OpBuilder &b, Location l, ValueRange args) {
          Value i = toIndex(b, l, args[0], axisSize, /*wrapNegative=*/true);
          i = checkedIndex(b, l, i, axisSize, "Gather");
          SmallVector<Value> idx;
          for (int64_t d = 0; d < axis; ++d)
            idx.push_back(linalg::IndexOp::create(b, l, d));
          idx.push_back(i);
          for (int64_t d = axis + 1; d < dataType.getRank(); ++d)
            idx.push_back(linalg::IndexOp::create(b, l, d + q - 1));
          Value v = tensor::ExtractOp::create(b, l, data, idx);
          if (scales) {
            v = arith::SIToFPOp::create(b, l, b.getF32Type(), v);
            if (zeroPoints)
              v = arith::SubFOp::create(
                  b, l, v, tensor::ExtractOp::create(b, l, zeroPoints, i));
            v = arith::MulFOp::create(b, l, v,
                                      tensor::ExtractOp::create(b, l, scales, i));
          }
          linalg::YieldOp::create(b, l, v);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

struct ExpandLowering : OpConversionPattern<OnnxExpandOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxExpandOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto inType = cast<RankedTensorType>(input.getType());
    int64_t rank = type->getRank(), offset = rank - inType.getRank();
    auto shapeType = cast<RankedTensorType>(adaptor.getShape().getType());
    // A shape of unknown length has the result's rank (inference made the
    // result ranked from the declared output type).
    int64_t n = shapeType.isDynamicDim(0) ? rank : shapeType.getDimSize(0);
    int64_t shapeOffset = rank - n;
    Value one = indexConst(rewriter, loc, 1);
    SmallVector<OpFoldResult> dims;
    for (int64_t i = 0; i < rank; ++i) {
      if (!type->isDynamicDim(i)) {
        dims.push_back(rewriter.getIndexAttr(type->getDimSize(i)));
        continue;
      }
      Value s =
          i >= shapeOffset
              ? extractIndex(rewriter, loc, adaptor.getShape(), i - shapeOffset)
              : one;
      if (i >= offset) {
        Value d = getDimValue(rewriter, loc, input, i - offset);
        Value sIsOne = arith::CmpIOp::create(rewriter, loc,
                                             arith::CmpIPredicate::eq, s, one);
        s = arith::SelectOp::create(rewriter, loc, sIsOne, d, s);
      }
      dims.push_back(s);
    }
    rewriter.replaceOp(op, broadcastTo(rewriter, loc, input, dims, *type));
    return success();
  }
};

struct ShapeLowering : OpConversionPattern<OnnxShapeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxShapeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value data = adaptor.getData();
    int64_t rank = cast<RankedTensorType>(data.getType()).getRank();
    auto clampIdx = [&](int64_t v) {
      if (v < 0)
        v += rank;
      return std::clamp<int64_t>(v, 0, rank);
    };
    int64_t start = clampIdx(op.getStart());
    int64_t end = op.getEnd() ? clampIdx(*op.getEnd()) : rank;
    SmallVector<Value> elems;
    for (int64_t i = start; i < end; ++i)
      elems.push_back(
          arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(),
                                     getDimValue(rewriter, loc, data, i)));
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(op, *type, elems);
    return success();
  }
};

struct SizeLowering : OpConversionPattern<OnnxSizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxSizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value data = adaptor.getData();
    Value total = indexConst(rewriter, loc, 1);
    for (int64_t i = 0, e = cast<RankedTensorType>(data.getType()).getRank();
         i < e; ++i)
      total = arith::MulIOp::create(rewriter, loc, total,
                                    getDimValue(rewriter, loc, data, i));
    Value v =
        arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(), total);
    rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(op, *type,
                                                        ValueRange{v});
    return success();
  }
};

struct ConstantOfShapeLowering : OpConversionPattern<OnnxConstantOfShapeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxConstantOfShapeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Type elem = type->getElementType();
    Value fill;
    if (auto value = op.getValueAttr()) {
      DenseElementsAttr dense = toDenseElements(value);
      if (!dense || dense.getNumElements() != 1)
        return rewriter.notifyMatchFailure(op, "value is not one element");
      Attribute first = *dense.value_begin<Attribute>();
      if (auto f = dyn_cast<FloatAttr>(first))
        fill = arith::ConstantOp::create(
            rewriter, loc, elem,
            rewriter.getFloatAttr(elem, f.getValueAsDouble()));
      else if (auto i = dyn_cast<IntegerAttr>(first))
        fill = arith::ConstantOp::create(
            rewriter, loc, elem, rewriter.getIntegerAttr(elem, i.getValue()));
      else
        return rewriter.notifyMatchFailure(op, "unsupported value");
    } else {
      fill = scalarConstant(rewriter, loc, elem, 0.0);
    }
    SmallVector<OpFoldResult> dims;
    for (int64_t i = 0; i < type->getRank(); ++i)
      dims.push_back(
          type->isDynamicDim(i)
              ? OpFoldResult(extractIndex(rewriter, loc, adaptor.getInput(), i))
              : OpFoldResult(rewriter.getIndexAttr(type->getDimSize(i))));
    Value r = filledTensor(rewriter, loc, dims, fill);
    r = castTo(rewriter, loc, r, *type);
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct RangeLowering : OpConversionPattern<OnnxRangeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxRangeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Type elem = type->getElementType();
    auto scalar = [&](Value t) -> Value {
      return tensor::ExtractOp::create(rewriter, loc, t, ValueRange{});
    };
    Value start = scalar(adaptor.getStart()),
          limit = scalar(adaptor.getLimit()),
          delta = scalar(adaptor.getDelta());
    // n = max(ceil((limit - start) / delta), 0), computed in f64.
    Type f64 = rewriter.getF64Type();
    Type onnx = elementTypeOf(op.getStart().getType());
    Value s = convertScalar(rewriter, loc, start, onnx, f64);
    Value l = convertScalar(rewriter, loc, limit, onnx, f64);
    Value d = convertScalar(rewriter, loc, delta, onnx, f64);
    Value q = arith::DivFOp::create(
        rewriter, loc, arith::SubFOp::create(rewriter, loc, l, s), d);
    Value c = math::CeilOp::create(rewriter, loc, q);
    Value zero = arith::ConstantOp::create(rewriter, loc, f64,
                                           rewriter.getF64FloatAttr(0));
    c = arith::MaximumFOp::create(rewriter, loc, c, zero);
    Value n = arith::FPToSIOp::create(rewriter, loc, rewriter.getI64Type(), c);
    Value size =
        arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(), n);
    OpFoldResult dim =
        type->isDynamicDim(0)
            ? OpFoldResult(size)
            : OpFoldResult(rewriter.getIndexAttr(type->getDimSize(0)));
    Value init = emptyTensor(rewriter, loc, {dim}, elem);
    init = castTo(rewriter, loc, init, *type);
    bool isF = isFloat(elem);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*type}, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{rewriter.getMultiDimIdentityMap(1)},
        ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
        [&](OpBuilder &b, Location l2, ValueRange) {
          Value i = linalg::IndexOp::create(b, l2, 0);
          Value i64 = arith::IndexCastOp::create(b, l2, b.getI64Type(), i);
          Value iv =
              convertScalar(b, l2, i64, b.getIntegerType(64, true), onnx);
          Value v =
              isF ? arith::AddFOp::create(
                        b, l2, start, arith::MulFOp::create(b, l2, iv, delta))
                        .getResult()
                  : arith::AddIOp::create(
                        b, l2, start, arith::MulIOp::create(b, l2, iv, delta))
                        .getResult();
          linalg::YieldOp::create(b, l2, v);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

struct TriluLowering : OpConversionPattern<OnnxTriluOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxTriluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    int64_t rank = type->getRank();
    if (rank < 2)
      return rewriter.notifyMatchFailure(op, "rank below 2");
    Value k = adaptor.getK()
                  ? tensor::ExtractOp::create(rewriter, loc, adaptor.getK(),
                                              ValueRange{})
                        .getResult()
                  : arith::ConstantIntOp::create(rewriter, loc,
                                                 rewriter.getI64Type(), 0)
                        .getResult();
    k = arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(), k);
    bool upper = op.getUpper() != 0;
    Type onnxElem = elementTypeOf(op.getInput().getType());
    Value zero = scalarConstant(rewriter, loc, onnxElem, 0);
    Value r = buildElementwise(
        rewriter, loc, *type, ValueRange{adaptor.getInput()},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value i = linalg::IndexOp::create(b, l, rank - 2);
          Value j = linalg::IndexOp::create(b, l, rank - 1);
          Value diff = arith::SubIOp::create(b, l, j, i);
          Value keep = arith::CmpIOp::create(b, l,
                                             upper ? arith::CmpIPredicate::sge
                                                   : arith::CmpIPredicate::sle,
                                             diff, k);
          return arith::SelectOp::create(b, l, keep, args[0], zero);
        });
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct SplitLowering : OpConversionPattern<OnnxSplitOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxSplitOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
    auto axis = normalizeAxis(op.getAxis(), rank);
    if (!axis)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    int64_t n = op.getNumResults();
    Value dim = getDimValue(rewriter, loc, input, *axis);
    SmallVector<Value> sizes;
    if (adaptor.getSplit()) {
      for (int64_t i = 0; i < n; ++i)
        sizes.push_back(extractIndex(rewriter, loc, adaptor.getSplit(), i));
    } else {
      // Equal parts; the last is smaller when the size does not divide.
      Value parts = indexConst(rewriter, loc, n);
      Value chunk = arith::CeilDivSIOp::create(rewriter, loc, dim, parts);
      for (int64_t i = 0; i < n; ++i)
        sizes.push_back(chunk);
    }
    SmallVector<Value> results;
    Value offset = indexConst(rewriter, loc, 0);
    for (int64_t i = 0; i < n; ++i) {
      auto type = convertedResultType(*getTypeConverter(), rewriter, op, i);
      if (failed(type))
        return failure();
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
      SmallVector<OpFoldResult> szs = getDims(rewriter, loc, input);
      SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
      Value remaining = arith::SubIOp::create(rewriter, loc, dim, offset);
      Value size = arith::MinSIOp::create(rewriter, loc, sizes[i], remaining);
      offsets[*axis] = offset;
      szs[*axis] = size;
      for (int64_t d = 0; d < rank; ++d)
        if (!type->isDynamicDim(d))
          szs[d] = rewriter.getIndexAttr(type->getDimSize(d));
      results.push_back(tensor::ExtractSliceOp::create(
          rewriter, loc, *type, input, offsets, szs, strides));
      offset = arith::AddIOp::create(rewriter, loc, offset, size);
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct TileLowering : OpConversionPattern<OnnxTileOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxTileOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    int64_t rank = type->getRank();
    SmallVector<Value> inDims;
    SmallVector<OpFoldResult> dims;
    for (int64_t i = 0; i < rank; ++i) {
      Value d = getDimValue(rewriter, loc, input, i);
      inDims.push_back(d);
      Value r = extractIndex(rewriter, loc, adaptor.getRepeats(), i);
      dims.push_back(
          type->isDynamicDim(i)
              ? OpFoldResult(
                    arith::MulIOp::create(rewriter, loc, d, r).getResult())
              : OpFoldResult(rewriter.getIndexAttr(type->getDimSize(i))));
    }
    Value init = emptyTensor(rewriter, loc, dims, type->getElementType());
    init = castTo(rewriter, loc, init, *type);
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*type}, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{rewriter.getMultiDimIdentityMap(rank)}, iters,
        [&](OpBuilder &b, Location l, ValueRange) {
          SmallVector<Value> idx;
          for (int64_t i = 0; i < rank; ++i)
            idx.push_back(arith::RemUIOp::create(
                b, l, linalg::IndexOp::create(b, l, i), inDims[i]));
          linalg::YieldOp::create(
              b, l, tensor::ExtractOp::create(b, l, input, idx).getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};
} // namespace

void lowering::populateDataMovementPatterns(const TypeConverter &converter,
                                            RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<ConstantLowering, ReshapeLowering, TransposeLowering,
               ConcatLowering, SliceLowering, ExpandLowering, ShapeLowering,
               SizeLowering, ConstantOfShapeLowering, RangeLowering,
               TriluLowering, SplitLowering, TileLowering>(converter, ctx);
  for (StringRef name :
       {OnnxIdentityOp::getOperationName(), OnnxDropoutOp::getOperationName(),
        StopGradientOp::getOperationName()})
    patterns.add<IdentityLowering>(converter, ctx, name);
  for (StringRef name :
       {OnnxFlattenOp::getOperationName(), OnnxSqueezeOp::getOperationName(),
        OnnxUnsqueezeOp::getOperationName()})
    patterns.add<ShapeOnlyReshape>(converter, ctx, name);
  patterns.add<GatherLowering>(converter, ctx,
                               OnnxGatherOp::getOperationName());
  patterns.add<GatherLowering>(converter, ctx, EmbeddingOp::getOperationName());
}
