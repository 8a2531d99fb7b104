//===- Reduction.cpp - Reduce*, ArgMax/ArgMin, Softmax to linalg ----------===//

#include "Utils.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {
/// The iteration space of a reduction of `input` over `axes`: the result
/// sizes, the result's indexing map and the iterator types.
struct ReducedSpace {
  SmallVector<OpFoldResult> dims;
  AffineMap outMap;
  SmallVector<utils::IteratorType> iters;
};

ReducedSpace reducedSpace(OpBuilder &b, Location loc, Value input,
                          ArrayRef<int64_t> axes, bool keepDims) {
  int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> inDims = getDims(b, loc, input);
  ReducedSpace space;
  SmallVector<AffineExpr> outExprs;
  for (int64_t i = 0; i < rank; ++i) {
    bool reduced = llvm::is_contained(axes, i);
    space.iters.push_back(reduced ? utils::IteratorType::reduction
                                  : utils::IteratorType::parallel);
    if (reduced) {
      if (keepDims) {
        space.dims.push_back(b.getIndexAttr(1));
        outExprs.push_back(getAffineConstantExpr(0, ctx));
      }
      continue;
    }
    space.dims.push_back(inDims[i]);
    outExprs.push_back(getAffineDimExpr(i, ctx));
  }
  space.outMap = AffineMap::get(rank, 0, outExprs, ctx);
  return space;
}
} // namespace

Value lowering::buildReduction(
    OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
    bool keepDims, Value init, RankedTensorType resultType,
    function_ref<Value(OpBuilder &, Location, Value x, Value acc)> combine) {
  int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
  ReducedSpace space = reducedSpace(b, loc, input, axes, keepDims);
  Value out =
      castTo(b, loc, filledTensor(b, loc, space.dims, init), resultType);
  SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(rank), space.outMap};
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{input}, ValueRange{out}, maps,
      space.iters, [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, combine(nb, l, args[0], args[1]));
      });
  return generic.getResult(0);
}

namespace {
double lowestOf(Type t) {
  if (isFloat(t))
    return -std::numeric_limits<double>::infinity();
  if (isUnsigned(t))
    return 0;
  return static_cast<double>(
      APInt::getSignedMinValue(t.getIntOrFloatBitWidth()).getSExtValue());
}
double highestOf(Type t) {
  if (isFloat(t))
    return std::numeric_limits<double>::infinity();
  unsigned w = t.getIntOrFloatBitWidth();
  if (isUnsigned(t))
    return static_cast<double>(APInt::getMaxValue(w).getZExtValue());
  return static_cast<double>(APInt::getSignedMaxValue(w).getSExtValue());
}

enum class Kind { Sum, Mean, Prod, Max, Min, L1, L2, LogSumExp, SumSquare };

struct ReduceLowering : ConversionPattern {
  ReduceLowering(const TypeConverter &tc, MLIRContext *ctx, StringRef name,
                 Kind kind)
      : ConversionPattern(tc, name, 1, ctx), kind(kind) {}

  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op->getLoc();
    Value input = operands[0];
    auto inType = dyn_cast<RankedTensorType>(input.getType());
    if (!inType)
      return rewriter.notifyMatchFailure(op, "unranked input");
    int64_t rank = inType.getRank();
    Type onnxElem = elementTypeOf(op->getOperand(0).getType());
    bool keepDims = true;
    if (auto k = op->getAttrOfType<IntegerAttr>("keepdims"))
      keepDims = k.getInt() != 0;
    bool noopEmpty = false;
    if (auto n = op->getAttrOfType<IntegerAttr>("noop_with_empty_axes"))
      noopEmpty = n.getInt() != 0;
    SmallVector<int64_t> axes;
    if (auto attr = op->getAttrOfType<DenseI64ArrayAttr>("axes")) {
      axes.assign(attr.asArrayRef().begin(), attr.asArrayRef().end());
    } else if (op->getNumOperands() > 1) {
      auto values = getConstantIntValues(op->getOperand(1));
      if (!values)
        return rewriter.notifyMatchFailure(op, "axes are not constant");
      axes = *values;
    }
    if (axes.empty()) {
      if (noopEmpty) {
        rewriter.replaceOp(op, input);
        return success();
      }
      for (int64_t i = 0; i < rank; ++i)
        axes.push_back(i);
    }
    for (int64_t &a : axes) {
      auto n = normalizeAxis(a, rank);
      if (!n)
        return rewriter.notifyMatchFailure(op, "axis out of range");
      a = *n;
    }
    llvm::sort(axes);
    axes.erase(std::unique(axes.begin(), axes.end()), axes.end());

    bool isF = isFloat(onnxElem), isU = isUnsigned(onnxElem);
    auto add = [&](OpBuilder &b, Location l, Value x, Value y) -> Value {
      return isF ? arith::AddFOp::create(b, l, x, y).getResult()
                 : arith::AddIOp::create(b, l, x, y).getResult();
    };
    auto mul = [&](OpBuilder &b, Location l, Value x, Value y) -> Value {
      return isF ? arith::MulFOp::create(b, l, x, y).getResult()
                 : arith::MulIOp::create(b, l, x, y).getResult();
    };
    double initValue = 0;
    std::function<Value(OpBuilder &, Location, Value, Value)> combine;
    switch (kind) {
    case Kind::Sum:
    case Kind::Mean:
      combine = [&](OpBuilder &b, Location l, Value x, Value acc) {
        return add(b, l, acc, x);
      };
      break;
    case Kind::Prod:
      initValue = 1;
      combine = [&](OpBuilder &b, Location l, Value x, Value acc) {
        return mul(b, l, acc, x);
      };
      break;
    case Kind::Max:
      initValue = lowestOf(onnxElem);
      combine = [&](OpBuilder &b, Location l, Value x, Value acc) -> Value {
        if (isF)
          return arith::MaximumFOp::create(b, l, acc, x);
        return isU ? arith::MaxUIOp::create(b, l, acc, x).getResult()
                   : arith::MaxSIOp::create(b, l, acc, x).getResult();
      };
      break;
    case Kind::Min:
      initValue = highestOf(onnxElem);
      combine = [&](OpBuilder &b, Location l, Value x, Value acc) -> Value {
        if (isF)
          return arith::MinimumFOp::create(b, l, acc, x);
        return isU ? arith::MinUIOp::create(b, l, acc, x).getResult()
                   : arith::MinSIOp::create(b, l, acc, x).getResult();
      };
      break;
    case Kind::L1:
      combine = [&](OpBuilder &b, Location l, Value x, Value acc) -> Value {
        Value a = isF ? math::AbsFOp::create(b, l, x).getResult()
                      : (isU ? x : math::AbsIOp::create(b, l, x).getResult());
        return add(b, l, acc, a);
      };
      break;
    case Kind::L2:
    case Kind::SumSquare:
      combine = [&](OpBuilder &b, Location l, Value x, Value acc) {
        return add(b, l, acc, mul(b, l, x, x));
      };
      break;
    case Kind::LogSumExp:
      combine = [&](OpBuilder &b, Location l, Value x, Value acc) {
        return add(b, l, acc, math::ExpOp::create(b, l, x).getResult());
      };
      break;
    }
    // Integer L2 / LogSumExp / Mean accumulate in the element type, as ONNX's
    // reference does.
    Value init = scalarConstant(rewriter, loc, onnxElem, initValue);
    Value r = buildReduction(rewriter, loc, input, axes, keepDims, init, *type,
                             combine);

    if (kind == Kind::Mean || kind == Kind::L2 || kind == Kind::LogSumExp) {
      Value count;
      if (kind == Kind::Mean) {
        count = arith::ConstantIndexOp::create(rewriter, loc, 1);
        for (int64_t a : axes)
          count = arith::MulIOp::create(rewriter, loc, count,
                                        getDimValue(rewriter, loc, input, a));
        Value asI64 = arith::IndexCastOp::create(rewriter, loc,
                                                 rewriter.getI64Type(), count);
        count = convertScalar(rewriter, loc, asI64,
                              rewriter.getIntegerType(64, /*isSigned=*/true),
                              onnxElem);
      }
      r = buildElementwise(
          rewriter, loc, *type, ValueRange{r},
          [&](OpBuilder &b, Location l, ValueRange args) -> Value {
            Value v = args[0];
            if (kind == Kind::Mean)
              return isF ? arith::DivFOp::create(b, l, v, count).getResult()
                         : (isU ? arith::DivUIOp::create(b, l, v, count)
                                      .getResult()
                                : arith::DivSIOp::create(b, l, v, count)
                                      .getResult());
            Type f = isF ? v.getType() : b.getF64Type();
            Value vf = isF ? v : convertScalar(b, l, v, onnxElem, f);
            Value res = kind == Kind::L2
                            ? math::SqrtOp::create(b, l, vf).getResult()
                            : math::LogOp::create(b, l, vf).getResult();
            return isF ? res : convertScalar(b, l, res, f, onnxElem);
          });
    }
    rewriter.replaceOp(op, r);
    return success();
  }
  Kind kind;
};

struct ArgLowering : ConversionPattern {
  ArgLowering(const TypeConverter &tc, MLIRContext *ctx, StringRef name,
              bool isMax)
      : ConversionPattern(tc, name, 1, ctx), isMax(isMax) {}

  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op->getLoc();
    Value input = operands[0];
    auto inType = cast<RankedTensorType>(input.getType());
    int64_t rank = inType.getRank();
    auto axis =
        normalizeAxis(op->getAttrOfType<IntegerAttr>("axis").getInt(), rank);
    if (!axis)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    bool keepDims = op->getAttrOfType<IntegerAttr>("keepdims").getInt() != 0;
    bool last =
        op->getAttrOfType<IntegerAttr>("select_last_index").getInt() != 0;
    Type onnxElem = elementTypeOf(op->getOperand(0).getType());
    ReducedSpace space =
        reducedSpace(rewriter, loc, input, ArrayRef<int64_t>{*axis}, keepDims);
    Value best = filledTensor(
        rewriter, loc, space.dims,
        scalarConstant(rewriter, loc, onnxElem,
                       isMax ? lowestOf(onnxElem) : highestOf(onnxElem)));
    Value index = filledTensor(
        rewriter, loc, space.dims,
        arith::ConstantIntOp::create(rewriter, loc, rewriter.getI64Type(), -1));
    auto valueType =
        RankedTensorType::get(type->getShape(), inType.getElementType());
    best = castTo(rewriter, loc, best, valueType);
    index = castTo(rewriter, loc, index, *type);
    bool isF = isFloat(onnxElem), isU = isUnsigned(onnxElem);
    int64_t ax = *axis;
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{valueType, *type}, ValueRange{input},
        ValueRange{best, index},
        ArrayRef<AffineMap>{rewriter.getMultiDimIdentityMap(rank), space.outMap,
                            space.outMap},
        space.iters, [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = args[0], cur = args[1], curIdx = args[2];
          Value i = linalg::IndexOp::create(b, l, ax);
          Value i64 = arith::IndexCastOp::create(b, l, b.getI64Type(), i);
          Value better;
          if (isF)
            better = arith::CmpFOp::create(
                b, l,
                isMax ? (last ? arith::CmpFPredicate::OGE
                              : arith::CmpFPredicate::OGT)
                      : (last ? arith::CmpFPredicate::OLE
                              : arith::CmpFPredicate::OLT),
                x, cur);
          else
            better = arith::CmpIOp::create(
                b, l,
                isMax ? (last ? (isU ? arith::CmpIPredicate::uge
                                     : arith::CmpIPredicate::sge)
                              : (isU ? arith::CmpIPredicate::ugt
                                     : arith::CmpIPredicate::sgt))
                      : (last ? (isU ? arith::CmpIPredicate::ule
                                     : arith::CmpIPredicate::sle)
                              : (isU ? arith::CmpIPredicate::ult
                                     : arith::CmpIPredicate::slt)),
                x, cur);
          // The first element always wins (covers all-NaN or extreme rows).
          Value first = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::slt, curIdx,
              arith::ConstantIntOp::create(b, l, b.getI64Type(), 0));
          Value take = arith::OrIOp::create(b, l, better, first);
          Value nb = arith::SelectOp::create(b, l, take, x, cur);
          Value ni = arith::SelectOp::create(b, l, take, i64, curIdx);
          linalg::YieldOp::create(b, l, ValueRange{nb, ni});
        });
    rewriter.replaceOp(op, generic.getResult(1));
    return success();
  }
  bool isMax;
};

} // namespace

Value lowering::buildSoftmax(OpBuilder &rewriter, Location loc, Value x,
                             int64_t axis, RankedTensorType type, bool isLog) {
  int64_t rank = type.getRank();
  Type elem = type.getElementType();
  SmallVector<int64_t> keptShape(type.getShape());
  if (rank)
    keptShape[axis] = 1;
  auto keptType = RankedTensorType::get(keptShape, elem);
  SmallVector<int64_t> axes;
  if (rank)
    axes.push_back(axis);
  Value lowest = scalarConstant(rewriter, loc, elem,
                                -std::numeric_limits<double>::infinity());
  Value max = buildReduction(
      rewriter, loc, x, axes, true, lowest, keptType,
      [](OpBuilder &b, Location l, Value v, Value acc) {
        return arith::MaximumFOp::create(b, l, acc, v).getResult();
      });
  Value shifted = buildElementwise(
      rewriter, loc, type, ValueRange{x, max},
      [](OpBuilder &b, Location l, ValueRange a) {
        return arith::SubFOp::create(b, l, a[0], a[1]).getResult();
      });
  Value exps =
      buildElementwise(rewriter, loc, type, ValueRange{shifted},
                       [](OpBuilder &b, Location l, ValueRange a) {
                         return math::ExpOp::create(b, l, a[0]).getResult();
                       });
  Value zero = scalarConstant(rewriter, loc, elem, 0.0);
  Value sum =
      buildReduction(rewriter, loc, exps, axes, true, zero, keptType,
                     [](OpBuilder &b, Location l, Value v, Value acc) {
                       return arith::AddFOp::create(b, l, acc, v).getResult();
                     });
  bool log = isLog;
  Value r = buildElementwise(
      rewriter, loc, type, ValueRange{log ? shifted : exps, sum},
      [log](OpBuilder &b, Location l, ValueRange a) -> Value {
        if (log)
          return arith::SubFOp::create(
              b, l, a[0], math::LogOp::create(b, l, a[1]).getResult());
        return arith::DivFOp::create(b, l, a[0], a[1]);
      });
  return r;
}

namespace {
/// Softmax / LogSoftmax along one axis (opset 13 semantics).
struct SoftmaxLowering : ConversionPattern {
  SoftmaxLowering(const TypeConverter &tc, MLIRContext *ctx, StringRef name,
                  bool isLog)
      : ConversionPattern(tc, name, 1, ctx), isLog(isLog) {}

  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Location loc = op->getLoc();
    Value x = operands[0];
    int64_t rank = type->getRank();
    auto axis =
        normalizeAxis(op->getAttrOfType<IntegerAttr>("axis").getInt(), rank);
    if (!axis)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    rewriter.replaceOp(op, buildSoftmax(rewriter, loc, x, *axis, *type, isLog));
    return success();
  }
  bool isLog;
};
} // namespace

void lowering::populateReductionPatterns(const TypeConverter &converter,
                                         RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  auto add = [&](StringRef name, Kind kind) {
    patterns.add<ReduceLowering>(converter, ctx, name, kind);
  };
  add(OnnxReduceSumOp::getOperationName(), Kind::Sum);
  add(OnnxReduceMeanOp::getOperationName(), Kind::Mean);
  add(OnnxReduceProdOp::getOperationName(), Kind::Prod);
  add(OnnxReduceMaxOp::getOperationName(), Kind::Max);
  add(OnnxReduceMinOp::getOperationName(), Kind::Min);
  add(OnnxReduceL1Op::getOperationName(), Kind::L1);
  add(OnnxReduceL2Op::getOperationName(), Kind::L2);
  add(OnnxReduceLogSumExpOp::getOperationName(), Kind::LogSumExp);
  add(OnnxReduceSumSquareOp::getOperationName(), Kind::SumSquare);
  patterns.add<ArgLowering>(converter, ctx, OnnxArgMaxOp::getOperationName(),
                            true);
  patterns.add<ArgLowering>(converter, ctx, OnnxArgMinOp::getOperationName(),
                            false);
  patterns.add<SoftmaxLowering>(converter, ctx,
                                OnnxSoftmaxOp::getOperationName(), false);
  patterns.add<SoftmaxLowering>(converter, ctx,
                                OnnxLogSoftmaxOp::getOperationName(), true);
}
