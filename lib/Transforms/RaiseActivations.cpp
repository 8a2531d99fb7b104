//===- RaiseActivations.cpp - GELU, SiLU and SwiGLU subgraphs -------------===//

#include "RaiseUtils.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::raise;

namespace {
/// x * sigmoid(x) -> silu(x).
struct MulSigmoidToSilu : OpRewritePattern<OnnxMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxMulOp op,
                                PatternRewriter &rewriter) const override {
    Value x;
    bool matched = eitherOrder(op.getA(), op.getB(), [&](Value a, Value b) {
      auto sigmoid = b.getDefiningOp<OnnxSigmoidOp>();
      if (!sigmoid || sigmoid.getX() != a)
        return false;
      x = a;
      return true;
    });
    if (!matched || x.getType() != op.getType())
      return rewriter.notifyMatchFailure(op, "not x * sigmoid(x)");
    rewriter.replaceOpWithNewOp<SiluOp>(op, op.getType(), x);
    return success();
  }
};

/// silu(gate) * up -> swiglu(gate, up), when both have the result's type.
struct MulSiluToSwiGLU : OpRewritePattern<OnnxMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxMulOp op,
                                PatternRewriter &rewriter) const override {
    Value gate, up;
    bool matched = eitherOrder(op.getA(), op.getB(), [&](Value a, Value b) {
      auto silu = a.getDefiningOp<SiluOp>();
      if (!silu || !a.hasOneUse() || a.getType() != op.getType() ||
          b.getType() != op.getType())
        return false;
      gate = silu.getInput();
      up = b;
      return true;
    });
    if (!matched)
      return rewriter.notifyMatchFailure(op, "not silu(gate) * up");
    rewriter.replaceOpWithNewOp<SwiGLUOp>(op, op.getType(), gate, up);
    return success();
  }
};

/// 0.5 * x * (1 + erf(x / sqrt(2))) and
/// 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), in any
/// association of the products.
struct GeluSubgraph : OpRewritePattern<OnnxMulOp> {
  using OpRewritePattern::OpRewritePattern;

  /// erf(x / sqrt 2) or erf(x * (1 / sqrt 2)).
  static bool isErfTerm(Value t, Value &x) {
    auto erf = t.getDefiningOp<OnnxErfOp>();
    if (!erf)
      return false;
    Value in = erf.getInput();
    if (auto div = in.getDefiningOp<OnnxDivOp>();
        div && isScalar(div.getB(), std::sqrt(2.0))) {
      x = div.getA();
      return true;
    }
    if (auto mul = in.getDefiningOp<OnnxMulOp>())
      return eitherOrder(mul.getA(), mul.getB(), [&](Value a, Value b) {
        if (!isScalar(b, 1.0 / std::sqrt(2.0)))
          return false;
        x = a;
        return true;
      });
    return false;
  }

  /// tanh(sqrt(2/pi) * (x + 0.044715 * x^3)).
  static bool isTanhTerm(Value t, Value &x) {
    auto tanh = t.getDefiningOp<OnnxTanhOp>();
    if (!tanh)
      return false;
    auto scale = tanh.getInput().getDefiningOp<OnnxMulOp>();
    if (!scale)
      return false;
    return eitherOrder(scale.getA(), scale.getB(), [&](Value k, Value sum) {
      if (!isScalar(k, std::sqrt(2.0 / M_PI)))
        return false;
      auto add = sum.getDefiningOp<OnnxAddOp>();
      if (!add)
        return false;
      return eitherOrder(add.getA(), add.getB(), [&](Value lin, Value cubic) {
        // 0.044715 * x^3, with x^3 as Pow(x, 3) or x * x * x in any grouping.
        SmallVector<Value> factors;
        collectFactors(cubic, factors);
        int constants = 0, powers = 0, linears = 0;
        for (Value f : factors) {
          if (isScalar(f, 0.044715))
            ++constants;
          else if (auto pow = f.getDefiningOp<OnnxPowOp>();
                   pow && pow.getX() == lin && isScalar(pow.getY(), 3.0))
            ++powers;
          else if (f == lin)
            ++linears;
          else
            return false;
        }
        if (constants != 1 || !((powers == 1 && linears == 0) ||
                                (powers == 0 && linears == 3)))
          return false;
        x = lin;
        return true;
      });
    });
  }

  LogicalResult matchAndRewrite(OnnxMulOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<Value> factors;
    collectFactors(op.getResult(), factors);
    if (factors.size() != 3)
      return rewriter.notifyMatchFailure(op, "not a product of three factors");
    Value half, onePlus, x;
    for (Value f : factors) {
      if (!half && isScalar(f, 0.5))
        half = f;
      else if (auto add = f.getDefiningOp<OnnxAddOp>();
               !onePlus && add &&
               (isScalar(add.getA(), 1.0) || isScalar(add.getB(), 1.0)))
        onePlus = f;
      else
        x = f;
    }
    if (!half || !onePlus || !x)
      return rewriter.notifyMatchFailure(op, "not 0.5 * x * (1 + ...)");
    auto add = onePlus.getDefiningOp<OnnxAddOp>();
    Value term = isScalar(add.getA(), 1.0) ? add.getB() : add.getA();
    Value inner;
    StringRef approximate;
    if (isErfTerm(term, inner))
      approximate = "none";
    else if (isTanhTerm(term, inner))
      approximate = "tanh";
    else
      return rewriter.notifyMatchFailure(op, "no erf or tanh term");
    if (inner != x || x.getType() != op.getType())
      return rewriter.notifyMatchFailure(op, "terms use different inputs");
    rewriter.replaceOpWithNewOp<GeluOp>(op, op.getType(), x,
                                        rewriter.getStringAttr(approximate));
    return success();
  }
};
} // namespace

void mlir::tailor::raise::populateRaiseActivationPatterns(
    RewritePatternSet &patterns) {
  patterns.add<MulSigmoidToSilu, MulSiluToSwiGLU, GeluSubgraph>(
      patterns.getContext());
}
