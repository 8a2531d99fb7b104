//===- RaiseLinear.cpp - MatMul(+bias) -> linear, Gather -> embedding -----===//

#include "RaiseUtils.h"

#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::raise;

namespace {
/// The values of a constant: a scalar or 1-D tensor of `n` (a scalar is
/// repeated), as doubles.
std::optional<SmallVector<double>> perChannel(Value v, int64_t n) {
  ElementsAttr attr = getConstantElements(v);
  if (!attr)
    return std::nullopt;
  DenseElementsAttr dense = toDenseElements(attr);
  auto type = cast<ShapedType>(attr.getType());
  if (!dense || !(type.getRank() == 0 ||
                  (type.getRank() == 1 && type.getDimSize(0) == n)))
    return std::nullopt;
  SmallVector<double> out;
  Type elt = type.getElementType();
  if (isa<FloatType>(elt)) {
    for (APFloat f : dense.getValues<APFloat>())
      out.push_back(f.convertToDouble());
  } else if (elt.isInteger(8)) {
    for (APInt i : dense.getValues<APInt>())
      out.push_back(elt.isUnsignedInteger() ? double(i.getZExtValue())
                                            : double(i.getSExtValue()));
  } else {
    return std::nullopt;
  }
  if (out.size() == 1)
    out.assign(n, out.front());
  return out;
}

/// Integers `q` (a constant int8 or uint8 [K, N]) with a constant `scale`
/// (a scalar or one per output column, > 0) and an optional constant zero
/// point of q's type (likewise): the integers behind a quant.scast to a
/// per-axis !quant.uniform type, so that a linear reads them as
/// tailor-quantize's weights. uint8 integers and zero points are shifted by
/// -128 into int8 (q - z is unchanged). Null (and nothing created)
/// otherwise.
Value quantizedWeightOf(PatternRewriter &rewriter, Location loc, Value q,
                        Value scale, Value zeroPoint) {
  if (!getConstantElements(q))
    return {};
  auto qType = dyn_cast<RankedTensorType>(q.getType());
  if (!qType || qType.getRank() != 2 || !qType.hasStaticShape() ||
      !(qType.getElementType().isSignlessInteger(8) ||
        qType.getElementType().isUnsignedInteger(8)))
    return {};
  bool shifted = qType.getElementType().isUnsignedInteger(8);
  int64_t n = qType.getDimSize(1);
  auto scales = perChannel(scale, n);
  if (!scales || llvm::any_of(*scales, [](double s) {
        return !(s > 0) || !std::isfinite(float(s));
      }))
    return {};
  int64_t shift = shifted ? 128 : 0;
  SmallVector<int64_t> zeros(n, -shift);
  if (zeroPoint) {
    auto z = perChannel(zeroPoint, n);
    if (!z || getElementTypeOrSelf(zeroPoint.getType()) != qType.getElementType())
      return {};
    for (int64_t c = 0; c < n; ++c)
      zeros[c] = int64_t((*z)[c]) - shift;
  }
  MLIRContext *ctx = rewriter.getContext();
  Value ints = q;
  if (shifted) {
    DenseElementsAttr dense = toDenseElements(getConstantElements(ints));
    if (!dense)
      return {};
    SmallVector<int8_t> values;
    values.reserve(qType.getNumElements());
    for (APInt v : dense.getValues<APInt>())
      values.push_back(int8_t(int64_t(v.getZExtValue()) - 128));
    auto i8Type = qType.clone(IntegerType::get(ctx, 8));
    ints = OnnxConstantOp::create(
        rewriter, loc, i8Type,
        DenseResourceElementsAttr::get(
            i8Type, "tailor_int8",
            HeapAsmResourceBlob::allocateAndCopyInferAlign(
                ArrayRef<int8_t>(values), /*dataIsMutable=*/false)),
        nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    qType = i8Type;
  }
  auto type = quant::UniformQuantizedPerAxisType::get(
      quant::QuantizationFlags::Signed, IntegerType::get(ctx, 8),
      Float32Type::get(ctx), *scales, zeros, /*quantizedDimension=*/1,
      /*storageTypeMin=*/-128, /*storageTypeMax=*/127);
  return quant::StorageCastOp::create(rewriter, loc, qType.clone(type), ints);
}

/// A weight imported from an ONNX QDQ model, DequantizeLinear(q, scale
/// [, zero_point]) of a constant int8 or uint8 [K, N] q with a per-tensor
/// scale or one per output column (axis 1), as quantizedWeightOf makes it.
Value quantizedWeight(PatternRewriter &rewriter, Value w) {
  auto dq = w.getDefiningOp<OnnxDequantizeLinearOp>();
  if (!dq || !getElementTypeOrSelf(dq.getType()).isF32())
    return {};
  int64_t axis = int64_t(dq.getAxis());
  if (axis < 0)
    axis += 2;
  auto scaleType = cast<ShapedType>(dq.getXScale().getType());
  if (scaleType.getRank() == 1 && axis != 1)
    return {}; // per input row: not a per-output-channel weight
  return quantizedWeightOf(rewriter, dq.getLoc(), dq.getX(), dq.getXScale(),
                           dq.getXZeroPoint());
}

/// MatMul(x, W) with a constant 2-D W (or a DequantizeLinear of constant
/// int8, from a QDQ model), and its bias Add when that is the MatMul's only
/// user, become one tailor.linear.
struct MatMulToLinear : OpRewritePattern<OnnxMatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxMatMulOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getA(), w = op.getB();
    // A 1-D x is a vector-matrix product, not a linear layer.
    if (rankOf(x) < 2 ||
        getElementTypeOrSelf(x.getType()) != getElementTypeOrSelf(w.getType()))
      return rewriter.notifyMatchFailure(op, "not x · constant 2-D weight");
    Value quantized;
    if (!isWeight(w, 2)) {
      rewriter.setInsertionPoint(op);
      quantized = quantizedWeight(rewriter, w);
      if (!quantized)
        return rewriter.notifyMatchFailure(op, "not x · constant 2-D weight");
    }
    int64_t outFeatures =
        cast<RankedTensorType>((quantized ? quantized : w).getType()).getDimSize(1);
    Operation *replaced = op;
    Value bias;
    if (op->hasOneUse()) {
      if (auto add = dyn_cast<OnnxAddOp>(*op->user_begin())) {
        Value other = add.getA() == op.getResult() ? add.getB() : add.getA();
        if (other != op.getResult() && isWeight(other, 1) &&
            cast<RankedTensorType>(other.getType()).getDimSize(0) ==
                outFeatures &&
            add.getType() == op.getType()) {
          bias = other;
          replaced = add;
        }
      }
    }
    Location loc = replaced == op.getOperation()
                       ? op.getLoc()
                       : rewriter.getFusedLoc({op.getLoc(), replaced->getLoc()});
    rewriter.setInsertionPoint(replaced);
    auto linear = LinearOp::create(rewriter, loc, replaced->getResult(0).getType(),
                                   x, quantized ? quantized : w, bias);
    rewriter.replaceOp(replaced, linear.getResult());
    if (replaced != op.getOperation())
      rewriter.eraseOp(op);
    return success();
  }
};

/// ONNX Runtime's dynamic quantization of a MatMul (quantize_dynamic):
///   (xq, xs, xz) = DynamicQuantizeLinear(x)
///   y = Cast<float>(MatMulInteger(xq, Wq, xz[, Wz])) * (xs * Ws)
/// with constant Wq (int8 / uint8 [K, N]), Ws and Wz (per tensor or per
/// column). Becomes tailor.linear(DequantizeLinear(xq, xs, xz), the int8
/// weight): the same sum, the weight read by the int8 kernels.
struct DynamicQuantizedMatMulToLinear : OpRewritePattern<OnnxMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxMulOp mul,
                                PatternRewriter &rewriter) const override {
    if (!getElementTypeOrSelf(mul.getType()).isF32())
      return rewriter.notifyMatchFailure(mul, "not an f32 product");
    for (int side = 0; side < 2; ++side) {
      Value product = mul->getOperand(side), scale = mul->getOperand(1 - side);
      auto cast = product.getDefiningOp<OnnxCastOp>();
      if (!cast || !cast->hasOneUse() ||
          !getElementTypeOrSelf(cast.getType()).isF32())
        continue;
      auto mi = cast->getOperand(0).getDefiningOp<OnnxMatMulIntegerOp>();
      if (!mi || !mi->hasOneUse())
        continue;
      auto dql = mi.getA().getDefiningOp<OnnxDynamicQuantizeLinearOp>();
      if (!dql || mi.getA() != dql->getResult(0) ||
          mi.getAZeroPoint() != dql->getResult(2) ||
          rankOf(dql->getOperand(0)) < 2)
        continue;
      auto scales = scale.getDefiningOp<OnnxMulOp>();
      if (!scales)
        continue;
      Value xs = dql->getResult(1);
      Value ws = scales.getA() == xs   ? scales.getB()
                 : scales.getB() == xs ? scales.getA()
                                       : Value();
      auto outType = dyn_cast<RankedTensorType>(mul.getType());
      if (!ws || !outType || outType != cast.getType())
        continue;
      rewriter.setInsertionPoint(mul);
      Value weight = quantizedWeightOf(rewriter, mi.getLoc(), mi.getB(), ws,
                                       mi.getBZeroPoint());
      if (!weight)
        continue;
      Value x = dql->getOperand(0);
      Value xdq = OnnxDequantizeLinearOp::create(
          rewriter, dql.getLoc(), x.getType(), dql->getResult(0), xs,
          dql->getResult(2), uint64_t(1));
      Location loc = rewriter.getFusedLoc({mi.getLoc(), mul.getLoc()});
      Value y = LinearOp::create(rewriter, loc, outType, xdq, weight, Value());
      rewriter.replaceOp(mul, y);
      rewriter.eraseOp(cast);
      rewriter.eraseOp(mi);
      return success();
    }
    return rewriter.notifyMatchFailure(mul, "not a dynamically quantized "
                                            "MatMulInteger with a constant "
                                            "weight");
  }
};

/// QLinearMatMul(a, as, az, Bq, Bs, Bz, ys, yz) with constant Bq (int8 /
/// uint8 [K, N]), Bs and Bz (per tensor or per column) becomes
/// QuantizeLinear(tailor.linear(DequantizeLinear(a, as, az), the int8
/// weight), ys, yz): the same value up to where the float sum rounds
/// (the integer op rounds acc * as * bs / ys once).
struct QLinearMatMulToLinear : OpRewritePattern<OnnxQLinearMatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxQLinearMatMulOp op,
                                PatternRewriter &rewriter) const override {
    auto aType = dyn_cast<RankedTensorType>(op.getA().getType());
    auto yType = dyn_cast<RankedTensorType>(op.getType());
    if (!aType || aType.getRank() < 2 || !yType ||
        !getElementTypeOrSelf(op.getAScale().getType()).isF32() ||
        !getElementTypeOrSelf(op.getYScale().getType()).isF32())
      return rewriter.notifyMatchFailure(op, "not a batch of rows");
    // a's and y's scales and zero points per tensor (ONNX also allows them
    // per row: left to the lowering, which says it cannot).
    for (Value v : {op.getAScale(), op.getAZeroPoint(), op.getYScale(),
                    op.getYZeroPoint()}) {
      auto t = dyn_cast<RankedTensorType>(v.getType());
      if (!t || !t.hasStaticShape() || t.getNumElements() != 1)
        return rewriter.notifyMatchFailure(op, "not per-tensor a and y");
    }
    Value weight = quantizedWeightOf(rewriter, op.getLoc(), op.getB(),
                                     op.getBScale(), op.getBZeroPoint());
    if (!weight)
      return rewriter.notifyMatchFailure(op, "not a constant int8 weight");
    Type f32 = rewriter.getF32Type();
    Value a = OnnxDequantizeLinearOp::create(rewriter, op.getLoc(),
                                             aType.clone(f32), op.getA(),
                                             op.getAScale(),
                                             op.getAZeroPoint(), uint64_t(1));
    Value y = LinearOp::create(rewriter, op.getLoc(), yType.clone(f32), a,
                               weight, Value());
    rewriter.replaceOpWithNewOp<OnnxQuantizeLinearOp>(
        op, yType, y, op.getYScale(), op.getYZeroPoint(), uint64_t(1));
    return success();
  }
};

/// Gather(table, ids) on axis 0 of a constant 2-D float table.
struct GatherToEmbedding : OpRewritePattern<OnnxGatherOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxGatherOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getAxis() != 0 || !isWeight(op.getData(), 2))
      return rewriter.notifyMatchFailure(op, "not a lookup in a 2-D table");
    rewriter.replaceOpWithNewOp<EmbeddingOp>(op, op.getType(), op.getData(),
                                             op.getIndices());
    return success();
  }
};
} // namespace

void mlir::tailor::raise::populateRaiseLinearPatterns(
    RewritePatternSet &patterns) {
  patterns.add<MatMulToLinear, GatherToEmbedding, DynamicQuantizedMatMulToLinear,
               QLinearMatMulToLinear>(patterns.getContext());
}
