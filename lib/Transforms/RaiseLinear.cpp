//===- RaiseLinear.cpp - MatMul(+bias) -> linear, Gather -> embedding -----===//

#include "RaiseUtils.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::raise;

namespace {
/// MatMul(x, W) with a constant 2-D W, and its bias Add when that is the
/// MatMul's only user, become one tailor.linear.
struct MatMulToLinear : OpRewritePattern<OnnxMatMulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxMatMulOp op,
                                PatternRewriter &rewriter) const override {
    Value x = op.getA(), w = op.getB();
    // A 1-D x is a vector-matrix product, not a linear layer.
    if (!isWeight(w, 2) || rankOf(x) < 2 ||
        getElementTypeOrSelf(x.getType()) != getElementTypeOrSelf(w.getType()))
      return rewriter.notifyMatchFailure(op, "not x · constant 2-D weight");
    int64_t outFeatures = cast<RankedTensorType>(w.getType()).getDimSize(1);
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
                                   x, w, bias);
    rewriter.replaceOp(replaced, linear.getResult());
    if (replaced != op.getOperation())
      rewriter.eraseOp(op);
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
  patterns.add<MatMulToLinear, GatherToEmbedding>(patterns.getContext());
}
