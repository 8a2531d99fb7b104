//===- RuntimeAxes.cpp - Axes known only at run time ----------------------===//
//
// Slice, Squeeze, Unsqueeze, ReduceSum and CumSum take their axes as a tensor
// operand. Exporters pass constants; a graph may compute them. The set of
// possible values is small (ordered tuples of distinct axes below the rank),
// so the op becomes an scf.index_switch on the runtime axes: each case is the
// op again with those axes as a constant (lowered by its usual pattern), and
// axes outside the rank fail a runtime assertion.

#include "Utils.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {
/// Every ordered tuple of `n` distinct values in [0, rank).
void tuples(int64_t n, int64_t rank, SmallVectorImpl<int64_t> &prefix,
            SmallVectorImpl<SmallVector<int64_t>> &out) {
  if ((int64_t)prefix.size() == n) {
    out.push_back(SmallVector<int64_t>(prefix.begin(), prefix.end()));
    return;
  }
  for (int64_t a = 0; a < rank; ++a) {
    if (llvm::is_contained(prefix, a))
      continue;
    prefix.push_back(a);
    tuples(n, rank, prefix, out);
    prefix.pop_back();
  }
}

struct RuntimeAxes : ConversionPattern {
  RuntimeAxes(const TypeConverter &tc, MLIRContext *ctx, StringRef name,
              unsigned axesIndex, bool axesOfResult)
      : ConversionPattern(tc, name, /*benefit=*/2, ctx), axesIndex(axesIndex),
        axesOfResult(axesOfResult) {}

  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumOperands() <= axesIndex)
      return failure();
    Value axes = op->getOperand(axesIndex);
    if (!axes || getConstantIntValues(axes))
      return failure(); // constant axes: the op's own lowering
    auto axesType = dyn_cast<RankedTensorType>(axes.getType());
    auto inType = dyn_cast<RankedTensorType>(op->getOperand(0).getType());
    auto outType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    if (!axesType || axesType.getRank() > 1 || !inType)
      return rewriter.notifyMatchFailure(op, "axes are not a 0-d or 1-d tensor");
    // How many axes: static, implied by the ranks (Squeeze, Unsqueeze), or
    // any count up to the rank (decided at run time).
    SmallVector<int64_t> counts;
    if (axesType.hasStaticShape()) {
      counts.push_back(axesType.getNumElements());
    } else if (axesOfResult && outType) {
      counts.push_back(outType.getRank() - inType.getRank());
    } else if (op->getName().getStringRef().ends_with("Squeeze") && outType) {
      counts.push_back(inType.getRank() - outType.getRank());
    } else {
      for (int64_t c = 0; c <= inType.getRank(); ++c)
        counts.push_back(c);
    }
    // (No axes at all is a case too: ReduceSum then reduces everything, or
    // nothing with noop_with_empty_axes.)
    if (counts.empty() || counts.front() < 0)
      return failure();
    int64_t maxCount = *llvm::max_element(counts);
    // Unsqueeze's axes index its result; the others' their input.
    auto rankFor = [&](int64_t n) {
      return inType.getRank() + (axesOfResult ? n : 0);
    };
    int64_t rank = rankFor(maxCount);
    for (Type t : op->getResultTypes())
      if (getTypeConverter()->convertType(t) != t)
        return rewriter.notifyMatchFailure(op, "result type changes");
    SmallVector<SmallVector<int64_t>> all;
    for (int64_t n : counts) {
      SmallVector<int64_t> prefix;
      tuples(n, rankFor(n), prefix, all);
    }
    if (all.size() > 512)
      return rewriter.notifyMatchFailure(op, "too many axis combinations");
    Location loc = op->getLoc();
    auto constantFor = [&](ArrayRef<int64_t> values) -> Value {
      SmallVector<int64_t> shape;
      if (axesType.getRank() == 1)
        shape.push_back(values.size());
      auto attr = DenseElementsAttr::get(
          RankedTensorType::get(shape, axesType.getElementType()),
          llvm::map_to_vector(values, [&](int64_t v) {
            return APInt(axesType.getElementTypeBitWidth(), v, true);
          }));
      // A tailor constant: the clone's own lowering reads its axes from it.
      return OnnxConstantOp::create(rewriter, loc, attr.getType(), attr,
                                    nullptr, nullptr, nullptr, nullptr,
                                    nullptr, nullptr);
    };
    // Only the axes consistent with the static sizes (ONNX shape inference
    // on the op with those axes agrees with its result types).
    SmallVector<SmallVector<int64_t>> candidates;
    for (ArrayRef<int64_t> values : all) {
      OpBuilder::InsertionGuard guard(rewriter);
      Value constant = constantFor(values);
      IRMapping map;
      map.map(axes, constant);
      Operation *probe = rewriter.clone(*op, map);
      SmallVector<Type> inferred;
      auto shaped = dyn_cast<ShapeInferenceOpInterface>(probe);
      bool ok = shaped && succeeded(shaped.inferResultTypes(inferred)) &&
                inferred.size() == op->getNumResults();
      for (auto [want, got] : llvm::zip(op->getResultTypes(), inferred))
        ok = ok && got && succeeded(verifyCompatibleShape(want, got));
      rewriter.eraseOp(probe);
      rewriter.eraseOp(constant.getDefiningOp());
      if (ok)
        candidates.push_back(SmallVector<int64_t>(values.begin(), values.end()));
    }
    if (candidates.empty())
      return rewriter.notifyMatchFailure(op, "no axes fit the static sizes");

    // The runtime key: the count, then the normalized axes (0 past the
    // count) in base rank + 1.
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value count =
        axesType.getRank() == 0
            ? one
            : getDimValue(rewriter, loc, operands[axesIndex], 0);
    Value rankValue = arith::ConstantIndexOp::create(rewriter, loc, rank);
    Value base = arith::ConstantIndexOp::create(rewriter, loc, rank + 1);
    Value key = count;
    for (int64_t i = 0; i < maxCount; ++i) {
      Value iv = arith::ConstantIndexOp::create(rewriter, loc, i);
      Value present = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::slt, iv, count);
      Value a;
      if (axesType.getRank() == 0) {
        Value e = tensor::ExtractOp::create(rewriter, loc, operands[axesIndex],
                                            ValueRange{});
        a = arith::IndexCastOp::create(rewriter, loc, rewriter.getIndexType(),
                                       e);
      } else {
        // Never read past the end: element min(i, count - 1), when any.
        Value last = arith::MaxSIOp::create(
            rewriter, loc, arith::SubIOp::create(rewriter, loc, count, one),
            zero);
        Value at = arith::MinSIOp::create(rewriter, loc, iv, last);
        Value hasAny = arith::CmpIOp::create(
            rewriter, loc, arith::CmpIPredicate::sgt, count, zero);
        auto read = scf::IfOp::create(
            rewriter, loc, hasAny,
            [&](OpBuilder &b, Location l) {
              Value e = tensor::ExtractOp::create(b, l, operands[axesIndex],
                                                  ValueRange{at});
              scf::YieldOp::create(
                  b, l,
                  ValueRange{arith::IndexCastOp::create(
                      b, l, b.getIndexType(), e)});
            },
            [&](OpBuilder &b, Location l) {
              scf::YieldOp::create(b, l, ValueRange{zero});
            });
        a = read.getResult(0);
      }
      Value neg = arith::CmpIOp::create(rewriter, loc,
                                        arith::CmpIPredicate::slt, a, zero);
      a = arith::SelectOp::create(
          rewriter, loc, neg, arith::AddIOp::create(rewriter, loc, a, rankValue),
          a);
      // Out of range: clamped to `rank`, which no case key has (the default
      // case asserts).
      a = arith::MinSIOp::create(
          rewriter, loc, arith::MaxSIOp::create(rewriter, loc, a, zero),
          rankValue);
      a = arith::SelectOp::create(rewriter, loc, present, a, zero);
      key = arith::AddIOp::create(
          rewriter, loc, arith::MulIOp::create(rewriter, loc, key, base), a);
    }
    SmallVector<int64_t> caseKeys;
    for (ArrayRef<int64_t> t : candidates) {
      int64_t k = t.size();
      for (int64_t i = 0; i < maxCount; ++i)
        k = k * (rank + 1) + (i < (int64_t)t.size() ? t[i] : 0);
      caseKeys.push_back(k);
    }
    auto sw = scf::IndexSwitchOp::create(rewriter, loc, op->getResultTypes(),
                                         key, caseKeys, caseKeys.size());
    auto emitCase = [&](Region &region, ArrayRef<int64_t> values,
                        bool failing) {
      Block *block = rewriter.createBlock(&region);
      rewriter.setInsertionPointToStart(block);
      if (failing) {
        Value no = arith::ConstantIntOp::create(rewriter, loc, 0, 1);
        cf::AssertOp::create(
            rewriter, loc, no,
            "tailor: axes out of range, repeated, or not fitting the sizes");
      }
      Value constant = constantFor(values);
      IRMapping map;
      map.map(axes, constant);
      Operation *clone = rewriter.clone(*op, map);
      scf::YieldOp::create(rewriter, loc, clone->getResults());
    };
    for (auto [region, values] : llvm::zip(sw.getCaseRegions(), candidates))
      emitCase(region, values, /*failing=*/false);
    emitCase(sw.getDefaultRegion(), candidates.front(), /*failing=*/true);
    rewriter.setInsertionPointAfter(sw);
    rewriter.replaceOp(op, sw.getResults());
    return success();
  }

  unsigned axesIndex;
  bool axesOfResult;
};
/// Slice without axes slices dims 0..n-1, n the length of `starts`. When
/// that length is known only at run time, the axes become an explicit
/// tensor [0, n) computed from it, which RuntimeAxes then switches on.
struct SliceDefaultAxes : OpConversionPattern<OnnxSliceOp> {
  SliceDefaultAxes(const TypeConverter &tc, MLIRContext *ctx)
      : OpConversionPattern(tc, ctx, /*benefit=*/3) {}
  LogicalResult
  matchAndRewrite(OnnxSliceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto startsType = dyn_cast<RankedTensorType>(op.getStarts().getType());
    if (op.getAxes() || !startsType || startsType.getRank() != 1 ||
        !startsType.isDynamicDim(0))
      return failure();
    Location loc = op.getLoc();
    Type i64 = rewriter.getI64Type();
    Value n = tensor::DimOp::create(rewriter, loc, op.getStarts(), 0);
    Value axes = tensor::GenerateOp::create(
        rewriter, loc, RankedTensorType::get({ShapedType::kDynamic}, i64),
        ValueRange{n}, [&](OpBuilder &b, Location l, ValueRange index) {
          tensor::YieldOp::create(
              b, l, arith::IndexCastOp::create(b, l, i64, index[0]).getResult());
        });
    rewriter.replaceOpWithNewOp<OnnxSliceOp>(op, op.getType(), op.getData(),
                                             op.getStarts(), op.getEnds(), axes,
                                             op.getSteps());
    return success();
  }
};
} // namespace

void lowering::populateRuntimeAxesPatterns(const TypeConverter &converter,
                                           RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<SliceDefaultAxes>(converter, ctx);
  patterns.add<RuntimeAxes>(converter, ctx, OnnxSliceOp::getOperationName(), 3,
                            false);
  patterns.add<RuntimeAxes>(converter, ctx, OnnxSqueezeOp::getOperationName(),
                            1, false);
  patterns.add<RuntimeAxes>(converter, ctx,
                            OnnxUnsqueezeOp::getOperationName(), 1, true);
  patterns.add<RuntimeAxes>(converter, ctx,
                            OnnxReduceSumOp::getOperationName(), 1, false);
  patterns.add<RuntimeAxes>(converter, ctx, OnnxCumSumOp::getOperationName(),
                            1, false);
}
