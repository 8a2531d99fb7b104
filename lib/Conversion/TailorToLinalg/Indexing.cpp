//===- Indexing.cpp - Data-dependent indexing ops to linalg/scf -----------===//
//
// GatherElements reads through an index tensor (a linalg.generic whose body
// extracts); ScatterElements, TopK and CumSum carry their result tensor
// through scf.for loops (bufferization makes the updates in place).
// Indices from the graph are wrapped when negative; one still out of range
// fails the run (cf.assert: an error from the C runtime), and is skipped
// (ScatterElements) or clamped (GatherElements) on the way, so a bad index
// never touches memory outside the tensor.

#include "Utils.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {
std::optional<int64_t> axisAttr(Operation *op, int64_t rank) {
  int64_t axis = 0;
  if (auto a = op->getAttrOfType<IntegerAttr>("axis"))
    axis = a.getInt();
  return normalizeAxis(axis, rank);
}

/// The ubs of a loop nest over every element of `tensor`.
SmallVector<Value> dimValues(OpBuilder &b, Location loc, Value tensor) {
  SmallVector<Value> ubs;
  for (OpFoldResult d : getDims(b, loc, tensor))
    ubs.push_back(getValueOrCreateConstantIndexOp(b, loc, d));
  return ubs;
}

struct GatherElementsLowering : OpConversionPattern<OnnxGatherElementsOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxGatherElementsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value data = adaptor.getData(), indices = adaptor.getIndices();
    int64_t rank = type->getRank();
    auto axis = axisAttr(op, rank);
    if (!axis)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    Value init = emptyTensor(rewriter, loc, getDims(rewriter, loc, indices),
                             type->getElementType());
    init = castTo(rewriter, loc, init, *type);
    Value axisSize = getDimValue(rewriter, loc, data, *axis);
    SmallVector<AffineMap> maps(2, rewriter.getMultiDimIdentityMap(rank));
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{*type}, ValueRange{indices}, ValueRange{init},
        maps, iters, [&](OpBuilder &b, Location l, ValueRange args) {
          Value i = toIndex(b, l, args[0], axisSize, /*wrapNegative=*/true);
          i = checkedIndex(b, l, i, axisSize, "GatherElements");
          SmallVector<Value> idx;
          for (int64_t d = 0; d < rank; ++d)
            idx.push_back(d == *axis ? i : linalg::IndexOp::create(b, l, d));
          linalg::YieldOp::create(
              b, l, tensor::ExtractOp::create(b, l, data, idx).getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// `acc` combined with `x` by a ScatterElements/ScatterND reduction.
Value scatterCombine(OpBuilder &b, Location loc, StringRef reduction,
                     Value acc, Value x, bool isUnsignedType) {
  bool fp = isa<FloatType>(x.getType());
  if (reduction == "add")
    return fp ? (Value)arith::AddFOp::create(b, loc, acc, x)
              : (Value)arith::AddIOp::create(b, loc, acc, x);
  if (reduction == "mul")
    return fp ? (Value)arith::MulFOp::create(b, loc, acc, x)
              : (Value)arith::MulIOp::create(b, loc, acc, x);
  if (reduction == "max")
    return fp ? (Value)arith::MaximumFOp::create(b, loc, acc, x)
           : isUnsignedType ? (Value)arith::MaxUIOp::create(b, loc, acc, x)
                            : (Value)arith::MaxSIOp::create(b, loc, acc, x);
  if (reduction == "min")
    return fp ? (Value)arith::MinimumFOp::create(b, loc, acc, x)
           : isUnsignedType ? (Value)arith::MinUIOp::create(b, loc, acc, x)
                            : (Value)arith::MinSIOp::create(b, loc, acc, x);
  return x; // "none"
}

bool knownReduction(StringRef r) {
  return r == "none" || r == "add" || r == "mul" || r == "max" || r == "min";
}

struct ScatterElementsLowering : OpConversionPattern<OnnxScatterElementsOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxScatterElementsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    StringRef reduction = op.getReduction();
    if (!knownReduction(reduction))
      return rewriter.notifyMatchFailure(op, "unknown reduction");
    Location loc = op.getLoc();
    Value data = castTo(rewriter, loc, adaptor.getData(), *type);
    Value indices = adaptor.getIndices(), updates = adaptor.getUpdates();
    int64_t rank = type->getRank();
    auto axis = axisAttr(op, rank);
    if (!axis)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    bool isUnsignedType = elementTypeOf(op.getData().getType()).isUnsignedInteger();
    Value axisSize = getDimValue(rewriter, loc, data, *axis);
    SmallVector<Value> lbs(rank, indexConst(rewriter, loc, 0));
    SmallVector<Value> steps(rank, indexConst(rewriter, loc, 1));
    scf::LoopNest nest = scf::buildLoopNest(
        rewriter, loc, lbs, dimValues(rewriter, loc, indices), steps,
        ValueRange{data},
        [&](OpBuilder &b, Location l, ValueRange ivs,
            ValueRange args) -> scf::ValueVector {
          Value out = args[0];
          Value raw = tensor::ExtractOp::create(b, l, indices, ivs);
          Value i = toIndex(b, l, raw, axisSize, /*wrapNegative=*/true);
          Value lo = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, i,
                                           indexConst(b, l, 0));
          Value hi = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, i,
                                           axisSize);
          Value inRange = arith::AndIOp::create(b, l, lo, hi);
          cf::AssertOp::create(b, l, inRange,
                               "tailor: ScatterElements index out of range");
          auto ifOp = scf::IfOp::create(
              b, l, inRange,
              [&](OpBuilder &tb, Location tl) {
                SmallVector<Value> target(ivs.begin(), ivs.end());
                target[*axis] = i;
                Value x = tensor::ExtractOp::create(tb, tl, updates, ivs);
                Value acc = tensor::ExtractOp::create(tb, tl, out, target);
                Value v = scatterCombine(tb, tl, reduction, acc, x,
                                         isUnsignedType);
                Value r = tensor::InsertOp::create(tb, tl, v, out, target);
                scf::YieldOp::create(tb, tl, r);
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(eb, el, out);
              });
          return {ifOp.getResult(0)};
        });
    rewriter.replaceOp(op, nest.results.front());
    return success();
  }
};

/// TopK along one axis: the axis is moved last and the other dims collapsed
/// into rows; each row keeps its best K in order by insertion (O(N*K)),
/// ties broken by the lower index as ONNX specifies.
struct TopKLowering : OpConversionPattern<OnnxTopKOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxTopKOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto valType = convertedResultType(*getTypeConverter(), rewriter, op, 0);
    auto idxType = convertedResultType(*getTypeConverter(), rewriter, op, 1);
    if (failed(valType) || failed(idxType))
      return failure();
    Location loc = op.getLoc();
    Value x = adaptor.getX();
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t rank = xType.getRank();
    auto axis = axisAttr(op, rank);
    if (!axis || rank == 0)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    Type elt = xType.getElementType(), idxElt = idxType->getElementType();
    bool largest = op.getLargest() != 0;
    bool isUnsignedType = elementTypeOf(op.getX().getType()).isUnsignedInteger();
    Value k = extractIndex(rewriter, loc, adaptor.getK(), 0);
    // K beyond the axis is a graph error; clamping keeps memory safe.
    Value n = getDimValue(rewriter, loc, x, *axis);
    k = arith::MinSIOp::create(rewriter, loc, k, n);
    k = arith::MaxSIOp::create(rewriter, loc, k, indexConst(rewriter, loc, 0));

    // [rows, N]
    Value moved = moveDim(rewriter, loc, x, *axis, rank - 1);
    SmallVector<OpFoldResult> movedDims = getDims(rewriter, loc, moved);
    Value rows2d;
    if (rank == 1) {
      auto t = RankedTensorType::get({1, xType.getDimSize(0)}, elt);
      rows2d = tensor::ExpandShapeOp::create(
          rewriter, loc, t, moved, ArrayRef<ReassociationIndices>{{0, 1}},
          ArrayRef<OpFoldResult>{rewriter.getIndexAttr(1), movedDims[0]});
    } else {
      ReassociationIndices outer;
      for (int64_t i = 0; i < rank - 1; ++i)
        outer.push_back(i);
      rows2d = tensor::CollapseShapeOp::create(
          rewriter, loc, moved,
          ArrayRef<ReassociationIndices>{outer, {rank - 1}});
    }
    Value rows = getDimValue(rewriter, loc, rows2d, 0);
    Value cols = getDimValue(rewriter, loc, rows2d, 1);
    Value vals = emptyTensor(rewriter, loc, {rows, k}, elt);
    Value idxs = emptyTensor(rewriter, loc, {rows, k}, idxElt);

    auto better = [&](OpBuilder &b, Location l, Value a, Value c) -> Value {
      if (isa<FloatType>(elt))
        return arith::CmpFOp::create(b, l,
                                     largest ? arith::CmpFPredicate::OGT
                                             : arith::CmpFPredicate::OLT,
                                     a, c);
      arith::CmpIPredicate p =
          largest ? (isUnsignedType ? arith::CmpIPredicate::ugt
                                    : arith::CmpIPredicate::sgt)
                  : (isUnsignedType ? arith::CmpIPredicate::ult
                                    : arith::CmpIPredicate::slt);
      return arith::CmpIOp::create(b, l, p, a, c);
    };
    Value zero = indexConst(rewriter, loc, 0), one = indexConst(rewriter, loc, 1);
    scf::LoopNest nest = scf::buildLoopNest(
        rewriter, loc, ValueRange{zero, zero}, ValueRange{rows, cols},
        ValueRange{one, one}, ValueRange{vals, idxs},
        [&](OpBuilder &b, Location l, ValueRange ivs,
            ValueRange args) -> scf::ValueVector {
          Value r = ivs[0], c = ivs[1];
          Value v = tensor::ExtractOp::create(b, l, rows2d, ValueRange{r, c});
          Value ci = arith::IndexCastOp::create(b, l, idxElt, c);
          // The first min(c, K) slots hold the best so far; slot `filled`
          // takes whatever is carried into it.
          Value filled = arith::MinSIOp::create(b, l, c, k);
          Value end = arith::MinSIOp::create(
              b, l, arith::AddIOp::create(b, l, c, indexConst(b, l, 1)), k);
          auto inner = scf::ForOp::create(
              b, l, indexConst(b, l, 0), end, indexConst(b, l, 1),
              ValueRange{args[0], args[1], v, ci},
              [&](OpBuilder &ib, Location il, Value j, ValueRange carry) {
                Value curV = carry[2], curI = carry[3];
                Value w = tensor::ExtractOp::create(ib, il, carry[0],
                                                    ValueRange{r, j});
                Value wi = tensor::ExtractOp::create(ib, il, carry[1],
                                                     ValueRange{r, j});
                Value empty = arith::CmpIOp::create(
                    ib, il, arith::CmpIPredicate::sge, j, filled);
                Value take = arith::OrIOp::create(
                    ib, il, empty, better(ib, il, curV, w));
                Value newV = arith::SelectOp::create(ib, il, take, curV, w);
                Value newI = arith::SelectOp::create(ib, il, take, curI, wi);
                Value nextV = arith::SelectOp::create(ib, il, take, w, curV);
                Value nextI = arith::SelectOp::create(ib, il, take, wi, curI);
                Value vs = tensor::InsertOp::create(ib, il, newV, carry[0],
                                                    ValueRange{r, j});
                Value is = tensor::InsertOp::create(ib, il, newI, carry[1],
                                                    ValueRange{r, j});
                scf::YieldOp::create(ib, il, ValueRange{vs, is, nextV, nextI});
              });
          return {inner.getResult(0), inner.getResult(1)};
        });

    // Back to the input's layout with the axis holding K.
    auto restore = [&](Value t, Type eltType) -> Value {
      SmallVector<OpFoldResult> dims(movedDims.begin(), movedDims.end() - 1);
      dims.push_back(k);
      SmallVector<int64_t> shape;
      for (OpFoldResult d : dims) {
        auto c = getConstantIntValue(d);
        shape.push_back(c ? *c : ShapedType::kDynamic);
      }
      auto type = RankedTensorType::get(shape, eltType);
      // The loop's [rows, K] tensor with the sizes known statically.
      int64_t rowsStatic = 1;
      for (int64_t i = 0; i + 1 < rank; ++i)
        rowsStatic = ShapedType::isDynamic(shape[i]) || rowsStatic < 0
                         ? ShapedType::kDynamic
                         : rowsStatic * shape[i];
      t = castTo(rewriter, loc, t,
                 RankedTensorType::get({rowsStatic, shape.back()}, eltType));
      Value expanded;
      if (rank == 1) {
        expanded = tensor::CollapseShapeOp::create(
            rewriter, loc, type, t, ArrayRef<ReassociationIndices>{{0, 1}});
      } else {
        ReassociationIndices outer;
        for (int64_t i = 0; i < rank - 1; ++i)
          outer.push_back(i);
        expanded = tensor::ExpandShapeOp::create(
            rewriter, loc, type, t,
            ArrayRef<ReassociationIndices>{outer, {rank - 1}}, dims);
      }
      return moveDim(rewriter, loc, expanded, rank - 1, *axis);
    };
    Value outV = restore(nest.results[0], elt);
    Value outI = restore(nest.results[1], idxElt);
    rewriter.replaceOp(op, {castTo(rewriter, loc, outV, *valType),
                            castTo(rewriter, loc, outI, *idxType)});
    return success();
  }
};

/// CumSum along a constant axis: a loop along the axis carries the running
/// sum of one slice at a time (reverse walks from the end; exclusive
/// writes the sum before adding).
struct CumSumLowering : OpConversionPattern<OnnxCumSumOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxCumSumOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    auto axisValues = getConstantIntValues(op.getAxis());
    if (!axisValues || axisValues->size() != 1)
      return rewriter.notifyMatchFailure(op, "axis is not a constant");
    int64_t rank = type->getRank();
    auto axis = normalizeAxis((*axisValues)[0], rank);
    if (!axis)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    Location loc = op.getLoc();
    Value x = adaptor.getX();
    Type elt = type->getElementType();
    bool exclusive = op.getExclusive() != 0, reverse = op.getReverse() != 0;
    SmallVector<OpFoldResult> dims = getDims(rewriter, loc, x);
    Value out = emptyTensor(rewriter, loc, dims, elt);
    Value n = getDimValue(rewriter, loc, x, *axis);
    // The running sum: x's shape without the axis.
    SmallVector<OpFoldResult> sliceDims(dims);
    sliceDims.erase(sliceDims.begin() + *axis);
    Value acc = filledTensor(rewriter, loc, sliceDims,
                             scalarConstant(rewriter, loc, elt, 0));
    auto sliceType = cast<RankedTensorType>(acc.getType());
    auto sliceAt = [&](OpBuilder &b, Location l, Value pos) {
      SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes(dims);
      SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
      offsets[*axis] = pos;
      sizes[*axis] = b.getIndexAttr(1);
      return std::make_tuple(offsets, sizes, strides);
    };
    auto loop = scf::ForOp::create(
        rewriter, loc, indexConst(rewriter, loc, 0), n, indexConst(rewriter, loc, 1),
        ValueRange{out, acc},
        [&](OpBuilder &b, Location l, Value i, ValueRange carry) {
          Value pos = i;
          if (reverse) {
            Value last = arith::SubIOp::create(b, l, n, indexConst(b, l, 1));
            pos = arith::SubIOp::create(b, l, last, i);
          }
          // (Named, not a structured binding: lambdas below capture them.)
          auto slice = sliceAt(b, l, pos);
          SmallVector<OpFoldResult> &offsets = std::get<0>(slice);
          SmallVector<OpFoldResult> &sizes = std::get<1>(slice);
          SmallVector<OpFoldResult> &strides = std::get<2>(slice);
          Value xs = tensor::ExtractSliceOp::create(b, l, sliceType, x,
                                                    offsets, sizes, strides);
          // The running sum is updated in place (its own buffer, carried by
          // the loop): acc += x.
          int64_t sliceRank = sliceType.getRank();
          SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(sliceRank));
          SmallVector<utils::IteratorType> iters(sliceRank,
                                                 utils::IteratorType::parallel);
          auto insert = [&](Value v) {
            return tensor::InsertSliceOp::create(b, l, v, carry[0], offsets,
                                                 sizes, strides)
                .getResult();
          };
          // Exclusive: the sum so far is written before it is updated (read
          // before the in-place write, so no copy is needed).
          Value o = exclusive ? insert(carry[1]) : Value();
          Value sum =
              linalg::GenericOp::create(
                  b, l, TypeRange{sliceType}, ValueRange{xs},
                  ValueRange{carry[1]}, maps, iters,
                  [&](OpBuilder &eb, Location el, ValueRange a) {
                    Value r =
                        isa<FloatType>(elt)
                            ? (Value)arith::AddFOp::create(eb, el, a[1], a[0])
                            : (Value)arith::AddIOp::create(eb, el, a[1], a[0]);
                    linalg::YieldOp::create(eb, el, r);
                  })
                  .getResult(0);
          if (!exclusive)
            o = insert(sum);
          scf::YieldOp::create(b, l, ValueRange{o, sum});
        });
    rewriter.replaceOp(op, castTo(rewriter, loc, loop.getResult(0), *type));
    return success();
  }
};
} // namespace

void lowering::populateIndexingPatterns(const TypeConverter &converter,
                                        RewritePatternSet &patterns) {
  patterns.add<GatherElementsLowering, ScatterElementsLowering, TopKLowering,
               CumSumLowering>(converter, patterns.getContext());
}
