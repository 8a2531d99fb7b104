//===- FuseElementwise.cpp - Elementwise fusion that keeps contractions ---===//
//
// Upstream's linalg-fuse-elementwise-ops fuses an elementwise producer into
// any consumer, a matrix product included: `(q + r) . k` or
// `(e / s) . v` are then no longer contractions, and the contraction
// strategy (tailor-tile-contractions) cannot tile them into its micro-kernel
// - they run as scalar loop nests. This pass applies the same fusion and
// reshape-propagation patterns, except into a consumer that is a
// contraction: the producer then stays a separate elementwise kernel;
// generics computed by a micro-kernel (library_call) are left as they are.
// A mask computed from indices alone fuses into every user.
// Powers with a constant exponent become multiplications or square roots.

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORFUSEELEMENTWISE
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
bool intoContraction(OpOperand *fused) {
  auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
  return consumer && linalg::isaContractionOpInterface(consumer);
}

/// A generic that a micro-kernel computes (library_call): its operands'
/// shapes are the kernel's ABI, so nothing fuses into or out of it and no
/// reshape moves through it.
bool touchesLibraryCall(OpOperand *fused) {
  auto isCall = [](Operation *op) {
    auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
    return generic && generic.getLibraryCall();
  };
  return isCall(fused->getOwner()) || isCall(fused->get().getDefiningOp());
}

/// A mask computed from the loop indices alone (a causal mask: col <= row):
/// cheaper to recompute in each consumer than to store and read back as
/// i1, which LLVM's vectorizer assembles bit by bit into mask registers.
bool isIndexMask(Operation *op) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInputs() != 0 ||
      generic->getNumResults() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !getElementTypeOrSelf(generic->getResult(0).getType()).isInteger(1))
    return false;
  if (!generic.getBody()->getArgument(0).use_empty())
    return false;
  return llvm::all_of(generic.getBody()->getOperations(), [](Operation &op) {
    return isa<linalg::IndexOp, linalg::YieldOp>(op) ||
           isa_and_present<arith::ArithDialect>(op.getDialect());
  });
}

struct FuseElementwisePass
    : mlir::tailor::impl::TailorFuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    linalg::ControlFusionFn control = [](OpOperand *fused) {
      Operation *producer = fused->get().getDefiningOp();
      // As upstream's default: only fuse a producer with a single user
      // (or an index mask, recomputed in each user)...
      if (!producer || (!producer->hasOneUse() && !isIndexMask(producer)))
        return false;
      // ...and never into a contraction or a micro-kernel call.
      return !intoContraction(fused) && !touchesLibraryCall(fused);
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, control);
    linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
    // Constant exponents folded in by the fusion: x^2 -> x*x, x^0.5 ->
    // sqrt(x), ... instead of a libm pow per element.
    populateMathAlgebraicSimplificationPatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
    ctx->getLoadedDialect<linalg::LinalgDialect>()->getCanonicalizationPatterns(
        patterns);
    // As the canonicalizer: not converging within the iteration limit is no
    // error (reshape propagation can bounce a reshape pair between two
    // generics, e.g. attention's head regrouping); the IR stays valid.
    (void)applyPatternsGreedily(getOperation(), std::move(patterns));
  }
};
} // namespace
