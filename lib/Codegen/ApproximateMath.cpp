//===- ApproximateMath.cpp - exp/erf/tanh as polynomials ------------------===//
//
// math.exp (softmax, SiLU), math.erf and math.tanh (GELU) otherwise become
// calls to libm, one scalar call per element that also keeps LLVM from
// vectorizing the loop around it. Upstream MLIR's polynomial approximations
// (range reduction + minimax polynomials, f32 accuracy of a few ulp) are
// plain arithmetic that vectorizes.

#include "tailor/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORAPPROXIMATEMATH
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
struct ApproximateMathPass
    : mlir::tailor::impl::TailorApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) {
          name.consume_front("math.");
          return name == "exp" || name == "erf" || name == "tanh";
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
