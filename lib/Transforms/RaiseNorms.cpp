//===- RaiseNorms.cpp - RMSNorm and LayerNorm subgraphs -------------------===//

#include "RaiseUtils.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::raise;

namespace {
/// w * (x / sqrt(mean(x^2) + eps)), as PyTorch exports RMSNorm
/// (Pow/ReduceMean/Add/Sqrt/Div/Mul).
struct RMSNormSubgraph : OpRewritePattern<OnnxMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxMulOp op,
                                PatternRewriter &rewriter) const override {
    Value x, weight;
    double eps = 0;
    bool matched = eitherOrder(op.getA(), op.getB(), [&](Value w, Value s) {
      if (!isWeight(w, 1))
        return false;
      Value num, den, meanOf, squared, sum;
      if (!isDivision(s, num, den) || !isSqrtPlusEps(den, sum, eps) ||
          !isMeanOverLastAxis(sum, squared) || !isSquare(squared, meanOf) ||
          meanOf != num)
        return false;
      // x - mean(x) normalised this way is a LayerNorm (LayerNormSubgraph).
      if (auto sub = num.getDefiningOp<OnnxSubOp>()) {
        Value meanIn;
        if (isMeanOverLastAxis(sub.getB(), meanIn) && meanIn == sub.getA())
          return false;
      }
      x = num;
      weight = w;
      return true;
    });
    if (!matched || x.getType() != op.getType())
      return rewriter.notifyMatchFailure(op, "not an RMSNorm subgraph");
    rewriter.replaceOpWithNewOp<RMSNormOp>(op, op.getType(), x, weight,
                                           rewriter.getF32FloatAttr(eps));
    return success();
  }
};

/// ONNX LayerNormalization over the last axis, without its optional
/// statistics outputs.
struct LayerNormalizationOp : OpRewritePattern<OnnxLayerNormalizationOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxLayerNormalizationOp op,
                                PatternRewriter &rewriter) const override {
    if (op->getNumResults() != 1 || !isLastAxis(op.getAxis(), rankOf(op.getX())) ||
        rankOf(op.getScale()) != 1 || (op.getB() && rankOf(op.getB()) != 1))
      return rewriter.notifyMatchFailure(op, "not a last-axis layer norm");
    rewriter.replaceOpWithNewOp<LayerNormOp>(
        op, op->getResult(0).getType(), op.getX(), op.getScale(), op.getB(),
        rewriter.getF32FloatAttr(op.getEpsilon().convertToFloat()));
    return success();
  }
};

/// (x - mean) / sqrt(var + eps) * w + b, as opsets before 17 export it.
struct LayerNormSubgraph : OpRewritePattern<OnnxAddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxAddOp op,
                                PatternRewriter &rewriter) const override {
    Value x, weight, bias;
    double eps = 0;
    bool matched = eitherOrder(op.getA(), op.getB(), [&](Value scaled, Value b) {
      auto mul = scaled.getDefiningOp<OnnxMulOp>();
      if (!mul || !isWeight(b, 1))
        return false;
      return eitherOrder(mul.getA(), mul.getB(), [&](Value normed, Value w) {
        Value centered, den, var, sq, centered2, meanIn;
        if (!isWeight(w, 1) || !isDivision(normed, centered, den) ||
            !isSqrtPlusEps(den, var, eps) || !isMeanOverLastAxis(var, sq) ||
            !isSquare(sq, centered2) || centered2 != centered)
          return false;
        auto sub = centered.getDefiningOp<OnnxSubOp>();
        if (!sub || !isMeanOverLastAxis(sub.getB(), meanIn) ||
            meanIn != sub.getA())
          return false;
        x = sub.getA();
        weight = w;
        bias = b;
        return true;
      });
    });
    if (!matched || x.getType() != op.getType())
      return rewriter.notifyMatchFailure(op, "not a LayerNorm subgraph");
    rewriter.replaceOpWithNewOp<LayerNormOp>(op, op.getType(), x, weight, bias,
                                             rewriter.getF32FloatAttr(eps));
    return success();
  }
};
} // namespace

void mlir::tailor::raise::populateRaiseNormPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RMSNormSubgraph, LayerNormalizationOp, LayerNormSubgraph>(
      patterns.getContext());
}
