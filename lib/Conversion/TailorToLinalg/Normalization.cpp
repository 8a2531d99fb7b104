//===- Normalization.cpp - Norms and LLM activations to linalg ------------===//
//
// LayerNormalization (ONNX), rms_norm and layer_norm (tailor), and the LLM
// activations gelu, silu, swiglu, as reductions + elementwise generics that
// linalg's elementwise fusion merges.

#include "Utils.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::lowering;

namespace {
Value fconst(OpBuilder &b, Location loc, Type t, double v) {
  return arith::ConstantOp::create(b, loc, t, b.getFloatAttr(t, v));
}

/// Mean over the trailing dims from `axis`, kept as size-1 dims.
Value meanOver(OpBuilder &b, Location loc, Value x, int64_t axis,
               function_ref<Value(OpBuilder &, Location, Value)> term) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> axes, kept(type.getShape());
  for (int64_t i = axis; i < rank; ++i) {
    axes.push_back(i);
    kept[i] = 1;
  }
  Type elem = type.getElementType();
  auto keptType = RankedTensorType::get(kept, elem);
  Value sum = buildReduction(
      b, loc, x, axes, true, fconst(b, loc, elem, 0.0), keptType,
      [&](OpBuilder &nb, Location l, Value v, Value acc) {
        return arith::AddFOp::create(nb, l, acc, term(nb, l, v)).getResult();
      });
  Value count = arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t i = axis; i < rank; ++i)
    count = arith::MulIOp::create(b, loc, count, getDimValue(b, loc, x, i));
  Value n = arith::UIToFPOp::create(
      b, loc, elem, arith::IndexCastOp::create(b, loc, b.getI64Type(), count));
  return buildElementwise(
      b, loc, keptType, ValueRange{sum},
      [&](OpBuilder &nb, Location l, ValueRange a) {
        return arith::DivFOp::create(nb, l, a[0], n).getResult();
      });
}

/// (x - mean) * rsqrt(var + eps) * scale (+ bias) over dims [axis, rank).
/// Returns y, mean and the inverse standard deviation.
std::tuple<Value, Value, Value>
layerNorm(OpBuilder &b, Location loc, Value x, Value scale, Value bias,
          int64_t axis, double eps, RankedTensorType resultType, bool rms) {
  Type elem = resultType.getElementType();
  Value mean;
  Value centered = x;
  if (!rms) {
    mean = meanOver(b, loc, x, axis,
                    [](OpBuilder &, Location, Value v) { return v; });
    centered = buildElementwise(
        b, loc, resultType, ValueRange{x, mean},
        [](OpBuilder &nb, Location l, ValueRange a) {
          return arith::SubFOp::create(nb, l, a[0], a[1]).getResult();
        });
  }
  Value var =
      meanOver(b, loc, centered, axis, [](OpBuilder &nb, Location l, Value v) {
        return arith::MulFOp::create(nb, l, v, v).getResult();
      });
  auto keptType = cast<RankedTensorType>(var.getType());
  Value invStd = buildElementwise(
      b, loc, keptType, ValueRange{var},
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value v = arith::AddFOp::create(nb, l, a[0], fconst(nb, l, elem, eps));
        return math::RsqrtOp::create(nb, l, v).getResult();
      });
  SmallVector<Value> inputs{centered, invStd, scale};
  if (bias)
    inputs.push_back(bias);
  Value y =
      buildElementwise(b, loc, resultType, inputs,
                       [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                         Value v = arith::MulFOp::create(nb, l, a[0], a[1]);
                         v = arith::MulFOp::create(nb, l, v, a[2]);
                         if (a.size() > 3)
                           v = arith::AddFOp::create(nb, l, v, a[3]);
                         return v;
                       });
  return {y, mean, invStd};
}

struct LayerNormalizationLowering
    : OpConversionPattern<OnnxLayerNormalizationOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OnnxLayerNormalizationOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    auto axis = normalizeAxis(op.getAxis(), type->getRank());
    if (!axis)
      return rewriter.notifyMatchFailure(op, "axis out of range");
    if (type->getElementType() != rewriter.getF32Type() &&
        (!op.getMean().use_empty() || !op.getInvStdDev().use_empty()))
      return rewriter.notifyMatchFailure(op, "stashed statistics need f32");
    auto [y, mean, invStd] =
        layerNorm(rewriter, op.getLoc(), adaptor.getX(), adaptor.getScale(),
                  adaptor.getB(), *axis, op.getEpsilon().convertToDouble(),
                  *type, /*rms=*/false);
    SmallVector<Value> results{y};
    for (unsigned i = 1; i < op->getNumResults(); ++i) {
      Value stat = i == 1 ? mean : invStd;
      auto statType = convertedResultType(*getTypeConverter(), rewriter, op, i);
      if (failed(statType))
        return failure();
      results.push_back(castTo(rewriter, op.getLoc(), stat, *statType));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

template <typename OpTy, bool IsRMS>
struct NormLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*this->getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    Value bias;
    if constexpr (!IsRMS)
      bias = adaptor.getBias();
    auto [y, mean, invStd] = layerNorm(
        rewriter, op.getLoc(), adaptor.getInput(), adaptor.getWeight(), bias,
        type->getRank() - 1, op.getEpsilon().convertToDouble(), *type, IsRMS);
    (void)mean;
    (void)invStd;
    rewriter.replaceOp(op, y);
    return success();
  }
};

Value sigmoidOf(OpBuilder &b, Location l, Value x) {
  Type t = x.getType();
  Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, x));
  Value d = arith::AddFOp::create(b, l, fconst(b, l, t, 1.0), e);
  return arith::DivFOp::create(b, l, fconst(b, l, t, 1.0), d);
}

template <typename OpTy> struct ActivationLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = convertedResultType(*this->getTypeConverter(), rewriter, op);
    if (failed(type))
      return failure();
    bool tanhGelu = false;
    if constexpr (std::is_same_v<OpTy, GeluOp>)
      tanhGelu = op.getApproximate() == "tanh";
    Value r = buildElementwise(
        rewriter, op.getLoc(), *type, adaptor.getOperands(),
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value x = a[0];
          Type t = x.getType();
          if constexpr (std::is_same_v<OpTy, SiluOp>) {
            return arith::MulFOp::create(b, l, x, sigmoidOf(b, l, x));
          } else if constexpr (std::is_same_v<OpTy, SwiGLUOp>) {
            Value s = arith::MulFOp::create(b, l, x, sigmoidOf(b, l, x));
            return arith::MulFOp::create(b, l, s, a[1]);
          } else {
            Value half = fconst(b, l, t, 0.5), one = fconst(b, l, t, 1.0);
            Value inner;
            if (tanhGelu) {
              // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
              Value x3 = arith::MulFOp::create(
                  b, l, x, arith::MulFOp::create(b, l, x, x));
              Value v = arith::AddFOp::create(
                  b, l, x,
                  arith::MulFOp::create(b, l, fconst(b, l, t, 0.044715), x3));
              v = arith::MulFOp::create(
                  b, l, fconst(b, l, t, std::sqrt(2.0 / M_PI)), v);
              inner = math::TanhOp::create(b, l, v);
            } else {
              // 0.5 x (1 + erf(x / sqrt(2)))
              Value v =
                  arith::MulFOp::create(b, l, x, fconst(b, l, t, M_SQRT1_2));
              inner = math::ErfOp::create(b, l, v);
            }
            Value s = arith::AddFOp::create(b, l, one, inner);
            return arith::MulFOp::create(
                b, l, arith::MulFOp::create(b, l, half, x), s);
          }
        });
    rewriter.replaceOp(op, r);
    return success();
  }
};
} // namespace

void lowering::populateNormalizationPatterns(const TypeConverter &converter,
                                             RewritePatternSet &patterns) {
  patterns.add<LayerNormalizationLowering, NormLowering<RMSNormOp, true>,
               NormLowering<LayerNormOp, false>, ActivationLowering<GeluOp>,
               ActivationLowering<SiluOp>, ActivationLowering<SwiGLUOp>>(
      converter, patterns.getContext());
}
