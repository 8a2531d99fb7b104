//===- Scatter.cpp - ScatterND and NonZero to loops on tensors ------------===//
//
// Both write at positions read from data, in order: an scf.for over the
// index rows (ScatterND: later rows win, or combine with the reduction) or
// over the elements (NonZero: row-major positions of the non-zeros).

#include "Utils.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {

/// `flat` split into coordinates of a row-major shape `sizes`.
SmallVector<Value> delinearize(OpBuilder &b, Location loc, Value flat,
                               ArrayRef<Value> sizes) {
  SmallVector<Value> coords(sizes.size());
  for (size_t i = sizes.size(); i-- > 0;) {
    coords[i] = arith::RemUIOp::create(b, loc, flat, sizes[i]);
    flat = arith::DivUIOp::create(b, loc, flat, sizes[i]);
  }
  return coords;
}

struct ScatterNDLowering : OpConversionPattern<OnnxScatterNDOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxScatterNDOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value data = adaptor.getData(), indices = adaptor.getIndices(),
          updates = adaptor.getUpdates();
    auto dataType = cast<RankedTensorType>(data.getType());
    auto indType = cast<RankedTensorType>(indices.getType());
    auto updType = cast<RankedTensorType>(updates.getType());
    int64_t r = dataType.getRank(), q = indType.getRank();
    // k: static, or implied by the updates' rank (q - 1 + r - k).
    int64_t k = q ? indType.getDimSize(q - 1) : ShapedType::kDynamic;
    if (ShapedType::isDynamic(k) && q)
      k = q - 1 + r - updType.getRank();
    if (q < 1 || k < 1 || k > r)
      return op.emitOpError("needs an index tuple length k (the last "
                            "indices dim) with 1 <= k <= data rank");
    StringRef reduction = op.getReduction();
    Type onnxElem = elementTypeOf(op.getType());
    bool isF = isFloat(onnxElem);
    if (reduction != "none" && reduction != "add" && reduction != "mul" &&
        reduction != "max" && reduction != "min")
      return op.emitOpError("reduction '") << reduction << "' is unknown";
    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    SmallVector<Value> rowSizes, dataSizes;
    Value rows = c1;
    for (int64_t i = 0; i + 1 < q; ++i) {
      rowSizes.push_back(getDimValue(rewriter, loc, indices, i));
      rows = arith::MulIOp::create(rewriter, loc, rows, rowSizes.back());
    }
    for (int64_t i = 0; i < r; ++i)
      dataSizes.push_back(getDimValue(rewriter, loc, data, i));
    // The slice each index row addresses: data.shape[k:].
    SmallVector<int64_t> restShape(dataType.getShape().drop_front(k));
    auto restType = RankedTensorType::get(restShape, type->getElementType());
    Value init = castTo(rewriter, loc, data, *type);
    auto loop = scf::ForOp::create(
        rewriter, loc, c0, rows, c1, ValueRange{init},
        [&](OpBuilder &b, Location l, Value row, ValueRange acc) {
          SmallVector<Value> at = delinearize(b, l, row, rowSizes);
          SmallVector<OpFoldResult> dst;
          for (int64_t j = 0; j < k; ++j) {
            at.push_back(arith::ConstantIndexOp::create(b, l, j));
            Value v = tensor::ExtractOp::create(b, l, indices, at);
            at.pop_back();
            Value i = toIndex(b, l, v, dataSizes[j], /*wrapNegative=*/true);
            // Out of range (undefined in ONNX) fails the run.
            i = checkedIndex(b, l, i, dataSizes[j], "ScatterND");
            dst.push_back(i);
          }
          SmallVector<OpFoldResult> dstSizes(k, b.getIndexAttr(1)),
              ones(r, b.getIndexAttr(1));
          SmallVector<OpFoldResult> updOffsets(at.begin(), at.end()),
              updSizes(q - 1, b.getIndexAttr(1));
          SmallVector<OpFoldResult> updOnes(updType.getRank(),
                                            b.getIndexAttr(1));
          for (int64_t i = k; i < r; ++i) {
            dst.push_back(b.getIndexAttr(0));
            updOffsets.push_back(b.getIndexAttr(0));
            OpFoldResult size =
                dataType.isDynamicDim(i)
                    ? OpFoldResult(dataSizes[i])
                    : OpFoldResult(b.getIndexAttr(dataType.getDimSize(i)));
            dstSizes.push_back(size);
            updSizes.push_back(size);
          }
          Value slice = tensor::ExtractSliceOp::create(
              b, l, restType, updates, updOffsets, updSizes, updOnes);
          if (reduction != "none") {
            Value cur = tensor::ExtractSliceOp::create(b, l, restType, acc[0],
                                                       dst, dstSizes, ones);
            slice = buildElementwise(
                b, l, restType, ValueRange{cur, slice},
                [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                  if (reduction == "add")
                    return isF ? arith::AddFOp::create(nb, nl, a[0], a[1])
                                     .getResult()
                               : arith::AddIOp::create(nb, nl, a[0], a[1]);
                  if (reduction == "mul")
                    return isF ? arith::MulFOp::create(nb, nl, a[0], a[1])
                                     .getResult()
                               : arith::MulIOp::create(nb, nl, a[0], a[1]);
                  bool max = reduction == "max";
                  if (isF)
                    return max ? arith::MaximumFOp::create(nb, nl, a[0], a[1])
                                     .getResult()
                               : arith::MinimumFOp::create(nb, nl, a[0], a[1]);
                  bool u = isUnsigned(onnxElem);
                  if (max)
                    return u ? arith::MaxUIOp::create(nb, nl, a[0], a[1])
                                   .getResult()
                             : arith::MaxSIOp::create(nb, nl, a[0], a[1]);
                  return u ? arith::MinUIOp::create(nb, nl, a[0], a[1])
                                 .getResult()
                           : arith::MinSIOp::create(nb, nl, a[0], a[1]);
                });
          }
          Value next = tensor::InsertSliceOp::create(b, l, slice, acc[0], dst,
                                                     dstSizes, ones);
          scf::YieldOp::create(b, l, next);
        });
    rewriter.replaceOp(op, loop.getResult(0));
    return success();
  }
};

struct NonZeroLowering : OpConversionPattern<OnnxNonZeroOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxNonZeroOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value x = adaptor.getX();
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t r = xType.getRank();
    if (r < 1)
      return op.emitOpError("of a scalar is not lowered");
    Type onnxElem = elementTypeOf(op.getX().getType());
    Type i64 = rewriter.getI64Type();
    auto nonZero = [&](OpBuilder &b, Location l, Value v) -> Value {
      Value zero = scalarConstant(b, l, onnxElem, 0.0);
      if (isFloat(onnxElem))
        return arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNE, v, zero);
      return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, v, zero);
    };
    // 1. Count the non-zeros.
    SmallVector<int64_t> axes;
    for (int64_t i = 0; i < r; ++i)
      axes.push_back(i);
    Value count = buildReduction(
        rewriter, loc, x, axes, false,
        arith::ConstantIntOp::create(rewriter, loc, 0, 64),
        RankedTensorType::get({}, i64),
        [&](OpBuilder &b, Location l, Value v, Value acc) {
          Value one = arith::ExtUIOp::create(b, l, b.getI64Type(),
                                             nonZero(b, l, v));
          return arith::AddIOp::create(b, l, acc, one).getResult();
        });
    Value n = arith::IndexCastOp::create(
        rewriter, loc, rewriter.getIndexType(),
        tensor::ExtractOp::create(rewriter, loc, count, ValueRange{}));
    // 2. Write their coordinates, in row-major order.
    SmallVector<OpFoldResult> outDims{rewriter.getIndexAttr(r), n};
    Value out = castTo(rewriter, loc, emptyTensor(rewriter, loc, outDims, i64),
                       *type);
    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    SmallVector<Value> sizes;
    Value total = c1;
    for (int64_t i = 0; i < r; ++i) {
      sizes.push_back(getDimValue(rewriter, loc, x, i));
      total = arith::MulIOp::create(rewriter, loc, total, sizes.back());
    }
    auto loop = scf::ForOp::create(
        rewriter, loc, c0, total, c1, ValueRange{out, c0},
        [&](OpBuilder &b, Location l, Value e, ValueRange acc) {
          SmallVector<Value> at = delinearize(b, l, e, sizes);
          Value v = tensor::ExtractOp::create(b, l, x, at);
          auto ifOp = scf::IfOp::create(b, l, acc.getTypes(), nonZero(b, l, v),
                                        true);
          {
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(ifOp.thenBlock());
            Value t = acc[0];
            for (int64_t d = 0; d < r; ++d) {
              Value coord =
                  arith::IndexCastOp::create(b, l, b.getI64Type(), at[d]);
              t = tensor::InsertOp::create(
                  b, l, coord, t,
                  ValueRange{arith::ConstantIndexOp::create(b, l, d), acc[1]});
            }
            Value next = arith::AddIOp::create(b, l, acc[1],
                                               arith::ConstantIndexOp::create(
                                                   b, l, 1));
            scf::YieldOp::create(b, l, ValueRange{t, next});
            b.setInsertionPointToStart(ifOp.elseBlock());
            scf::YieldOp::create(b, l, acc);
          }
          scf::YieldOp::create(b, l, ifOp.getResults());
        });
    rewriter.replaceOp(op, loop.getResult(0));
    return success();
  }
};

} // namespace

void lowering::populateScatterPatterns(const TypeConverter &converter,
                                       RewritePatternSet &patterns) {
  patterns.add<ScatterNDLowering, NonZeroLowering>(converter,
                                                   patterns.getContext());
}
