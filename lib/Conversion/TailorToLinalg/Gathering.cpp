//===- Gathering.cpp - Pad, OneHot, GatherND to linalg --------------------===//
//
// Ops whose every output element is read from the input at a computed
// position: one linalg.generic over the output with linalg.index and
// tensor.extract. Sizes given at run time (pads, depth) are read from their
// tensors; the dynamic-shape variants are the same code.

#include "Utils.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {

using IndexBody =
    function_ref<Value(OpBuilder &, Location, ArrayRef<Value> index)>;

/// A tensor of `type` / `dims` whose element at `index` is body(index).
Value buildFromIndices(OpBuilder &b, Location loc, RankedTensorType type,
                       ArrayRef<OpFoldResult> dims, IndexBody body) {
  int64_t rank = type.getRank();
  Value init = castTo(b, loc, emptyTensor(b, loc, dims, type.getElementType()),
                      type);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type}, ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank)}, iterators,
      [&](OpBuilder &nb, Location l, ValueRange) {
        SmallVector<Value> index;
        for (int64_t i = 0; i < rank; ++i)
          index.push_back(linalg::IndexOp::create(nb, l, i));
        linalg::YieldOp::create(nb, l, body(nb, l, index));
      });
  return generic.getResult(0);
}

Value cmp(OpBuilder &b, Location l, arith::CmpIPredicate p, Value x, Value y) {
  return arith::CmpIOp::create(b, l, p, x, y);
}

/// A scalar of integer or float ONNX type `type` (held signless) as index,
/// floats truncated toward zero.
Value scalarToIndex(OpBuilder &b, Location loc, Value v, Type onnxType) {
  if (isFloat(onnxType))
    v = arith::FPToSIOp::create(b, loc, b.getI64Type(), v);
  else if (isUnsigned(onnxType))
    return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), v);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

/// The first element of a scalar or 1-element tensor.
Value firstElement(OpBuilder &b, Location loc, Value t) {
  auto type = cast<RankedTensorType>(t.getType());
  SmallVector<Value> zeros(type.getRank(),
                           arith::ConstantIndexOp::create(b, loc, 0));
  return tensor::ExtractOp::create(b, loc, t, zeros);
}

struct PadLowering : OpConversionPattern<OnnxPadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxPadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value data = adaptor.getData();
    auto dataType = cast<RankedTensorType>(data.getType());
    int64_t rank = dataType.getRank();
    auto padsType = cast<RankedTensorType>(adaptor.getPads().getType());
    // ONNX requires 2 * rank pads; a length only known at run time is
    // trusted (the importer's shape inference checks static ones).
    if (padsType.getRank() != 1 || (!padsType.isDynamicDim(0) &&
                                    padsType.getDimSize(0) != 2 * rank))
      return op.emitOpError("needs pads of length 2 * rank (")
             << 2 * rank << ")";
    StringRef mode = op.getMode();
    if (mode != "constant" && mode != "edge" && mode != "reflect")
      return op.emitOpError("mode '") << mode << "' is not one of constant, "
                                      << "edge, reflect";
    Type elem = type->getElementType();
    SmallVector<Value> begin, sizes;
    SmallVector<OpFoldResult> dims;
    for (int64_t i = 0; i < rank; ++i) {
      Value lo = extractIndex(rewriter, loc, adaptor.getPads(), i);
      Value hi = extractIndex(rewriter, loc, adaptor.getPads(), rank + i);
      Value size = getDimValue(rewriter, loc, data, i);
      begin.push_back(lo);
      sizes.push_back(size);
      Value out = arith::AddIOp::create(
          rewriter, loc, arith::AddIOp::create(rewriter, loc, size, lo), hi);
      dims.push_back(type->isDynamicDim(i)
                         ? OpFoldResult(out)
                         : OpFoldResult(rewriter.getIndexAttr(
                               type->getDimSize(i))));
    }
    Value fill = adaptor.getConstantValue()
                     ? firstElement(rewriter, loc, adaptor.getConstantValue())
                     : scalarConstant(rewriter, loc, elementTypeOf(
                                                         op.getType()),
                                      0.0);
    Value y = buildFromIndices(
        rewriter, loc, *type, dims,
        [&](OpBuilder &b, Location l, ArrayRef<Value> index) -> Value {
          Value zero = arith::ConstantIndexOp::create(b, l, 0);
          Value one = arith::ConstantIndexOp::create(b, l, 1);
          SmallVector<Value> src;
          Value inside;
          for (int64_t i = 0; i < rank; ++i) {
            Value s = arith::SubIOp::create(b, l, index[i], begin[i]);
            Value last = arith::SubIOp::create(b, l, sizes[i], one);
            if (mode == "edge") {
              s = arith::MaxSIOp::create(b, l, s, zero);
              s = arith::MinSIOp::create(b, l, s, last);
            } else if (mode == "reflect") {
              // One reflection each side (ONNX requires |pad| < size).
              s = arith::SelectOp::create(
                  b, l, cmp(b, l, arith::CmpIPredicate::slt, s, zero),
                  arith::SubIOp::create(b, l, zero, s), s);
              Value twice = arith::AddIOp::create(b, l, last, last);
              s = arith::SelectOp::create(
                  b, l, cmp(b, l, arith::CmpIPredicate::sgt, s, last),
                  arith::SubIOp::create(b, l, twice, s), s);
            } else {
              Value ok = arith::AndIOp::create(
                  b, l, cmp(b, l, arith::CmpIPredicate::sge, s, zero),
                  cmp(b, l, arith::CmpIPredicate::slt, s, sizes[i]));
              inside = inside ? arith::AndIOp::create(b, l, inside, ok)
                              : ok;
            }
            src.push_back(s);
          }
          if (!inside)
            return tensor::ExtractOp::create(b, l, data, src);
          // Read the input only where the index is inside it.
          auto ifOp = scf::IfOp::create(b, l, TypeRange{elem}, inside, true);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          scf::YieldOp::create(
              b, l, ValueRange{tensor::ExtractOp::create(b, l, data, src)});
          b.setInsertionPointToStart(ifOp.elseBlock());
          scf::YieldOp::create(b, l, ValueRange{fill});
          return ifOp.getResult(0);
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct OneHotLowering : OpConversionPattern<OnnxOneHotOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxOneHotOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value indices = adaptor.getIndices();
    int64_t rank = cast<RankedTensorType>(indices.getType()).getRank();
    auto axis = normalizeAxis(op.getAxis(), rank + 1);
    if (!axis)
      return op.emitOpError("axis ") << op.getAxis() << " is out of range";
    Type indexType = elementTypeOf(op.getIndices().getType());
    Value depth = scalarToIndex(rewriter, loc,
                                firstElement(rewriter, loc, adaptor.getDepth()),
                                elementTypeOf(op.getDepth().getType()));
    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value off =
        tensor::ExtractOp::create(rewriter, loc, adaptor.getValues(), c0);
    Value on =
        tensor::ExtractOp::create(rewriter, loc, adaptor.getValues(), c1);
    SmallVector<OpFoldResult> inDims = getDims(rewriter, loc, indices), dims;
    for (int64_t i = 0, j = 0; i <= rank; ++i)
      dims.push_back(i == *axis ? OpFoldResult(depth) : inDims[j++]);
    for (int64_t i = 0; i <= rank; ++i)
      if (!type->isDynamicDim(i))
        dims[i] = rewriter.getIndexAttr(type->getDimSize(i));
    Value y = buildFromIndices(
        rewriter, loc, *type, dims,
        [&](OpBuilder &b, Location l, ArrayRef<Value> index) -> Value {
          SmallVector<Value> at;
          for (int64_t i = 0; i <= rank; ++i)
            if (i != *axis)
              at.push_back(index[i]);
          Value v = scalarToIndex(b, l, tensor::ExtractOp::create(b, l, indices, at),
                                  indexType);
          v = toIndex(b, l, v, depth, /*wrapNegative=*/true);
          Value hot = cmp(b, l, arith::CmpIPredicate::eq, v, index[*axis]);
          return arith::SelectOp::create(b, l, hot, on, off);
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct GatherNDLowering : OpConversionPattern<OnnxGatherNDOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxGatherNDOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op.getLoc();
    Value data = adaptor.getData(), indices = adaptor.getIndices();
    auto dataType = cast<RankedTensorType>(data.getType());
    auto indType = cast<RankedTensorType>(indices.getType());
    int64_t r = dataType.getRank(), q = indType.getRank();
    int64_t batch = op.getBatchDims();
    // k, the length of an index tuple: static, or implied by the ranks
    // (output rank = q - 1 + r - batch_dims - k).
    int64_t k = q ? indType.getDimSize(q - 1) : ShapedType::kDynamic;
    if (ShapedType::isDynamic(k) && q)
      k = q - 1 + r - batch - type->getRank();
    if (ShapedType::isDynamic(k) || batch < 0 || batch >= q ||
        batch + k > r)
      return op.emitOpError("needs an index tuple length k (the last "
                            "indices dim) with batch_dims + k <= data rank");
    SmallVector<OpFoldResult> indDims = getDims(rewriter, loc, indices);
    SmallVector<OpFoldResult> dataDims = getDims(rewriter, loc, data);
    SmallVector<OpFoldResult> dims(indDims.begin(), indDims.end() - 1);
    dims.append(dataDims.begin() + batch + k, dataDims.end());
    for (int64_t i = 0; i < type->getRank(); ++i)
      if (!type->isDynamicDim(i))
        dims[i] = rewriter.getIndexAttr(type->getDimSize(i));
    SmallVector<Value> dataSizes;
    for (int64_t i = 0; i < r; ++i)
      dataSizes.push_back(getDimValue(rewriter, loc, data, i));
    Value y = buildFromIndices(
        rewriter, loc, *type, dims,
        [&](OpBuilder &b, Location l, ArrayRef<Value> index) -> Value {
          // index = (leading indices dims..., trailing data dims...)
          SmallVector<Value> at(index.begin(), index.begin() + (q - 1));
          SmallVector<Value> src(index.begin(), index.begin() + batch);
          for (int64_t j = 0; j < k; ++j) {
            at.push_back(arith::ConstantIndexOp::create(b, l, j));
            Value v = tensor::ExtractOp::create(b, l, indices, at);
            at.pop_back();
            Value size = dataSizes[batch + j];
            Value i = toIndex(b, l, v, size, /*wrapNegative=*/true);
            // Out of range (undefined in ONNX) fails the run.
            src.push_back(checkedIndex(b, l, i, size, "GatherND"));
          }
          src.append(index.begin() + (q - 1), index.end());
          return tensor::ExtractOp::create(b, l, data, src);
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

} // namespace

void lowering::populateGatheringPatterns(const TypeConverter &converter,
                                         RewritePatternSet &patterns) {
  patterns.add<PadLowering, OneHotLowering, GatherNDLowering>(
      converter, patterns.getContext());
}
