//===- LoRAMerge.cpp - LoRA branches folded into base weights -------------===//
//
// y = linear(x, W [, b]) + s * linear(linear(x, A), B)   (either Add order,
// either Mul order, or no Mul when s = 1)  ->  linear(x, W + s * A.B [, b]).
// The product is computed in double precision: the merged weight differs
// from the exact sum by one f32 rounding, not by a K-long f32 accumulation.

#include "tailor/Dialect/Tailor.h"
#include "tailor/Transforms/Passes.h"

#include "RaiseUtils.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORLORAMERGE
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
/// The f32 values of a constant [rows, cols] matrix, row-major.
std::optional<std::vector<float>> matrix(Value v, int64_t rows, int64_t cols) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || type.getRank() != 2 || type.getDimSize(0) != rows ||
      type.getDimSize(1) != cols || !type.getElementType().isF32())
    return std::nullopt;
  ElementsAttr attr = getConstantElements(v);
  if (!attr)
    return std::nullopt;
  DenseElementsAttr dense = toDenseElements(attr);
  if (!dense)
    return std::nullopt;
  auto values = dense.getValues<float>();
  return std::vector<float>(values.begin(), values.end());
}

struct MergeLoRA : OpRewritePattern<OnnxAddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(OnnxAddOp add,
                                PatternRewriter &rewriter) const override {
    for (unsigned side = 0; side < 2; ++side) {
      auto base = add->getOperand(side).getDefiningOp<LinearOp>();
      Value branch = add->getOperand(1 - side);
      if (base && succeeded(merge(add, base, branch, rewriter)))
        return success();
    }
    return failure();
  }

  LogicalResult merge(OnnxAddOp add, LinearOp base, Value branch,
                      PatternRewriter &rewriter) const {
    // The branch: [s *] linear(linear(x, A), B).
    double scale = 1.0;
    if (auto mul = branch.getDefiningOp<OnnxMulOp>()) {
      bool found = false;
      for (unsigned i = 0; i < 2 && !found; ++i)
        if (std::optional<double> s =
                raise::scalarConstant(mul->getOperand(i))) {
          scale = *s;
          branch = mul->getOperand(1 - i);
          found = true;
        }
      if (!found || !mul->hasOneUse())
        return failure();
    }
    auto up = branch.getDefiningOp<LinearOp>();
    if (!up || up.getBias() || !up->hasOneUse())
      return failure();
    auto down = up.getInput().getDefiningOp<LinearOp>();
    if (!down || down.getBias() || !down->hasOneUse() ||
        down.getInput() != base.getInput() || !base->hasOneUse())
      return failure();
    if (add.getType() != base.getType())
      return failure(); // the Add broadcasts: not a LoRA sum
    auto wType = dyn_cast<RankedTensorType>(base.getWeight().getType());
    auto aType = dyn_cast<RankedTensorType>(down.getWeight().getType());
    if (!wType || !aType || !wType.hasStaticShape() ||
        !aType.hasStaticShape())
      return failure();
    int64_t k = wType.getDimSize(0), n = wType.getDimSize(1),
            r = aType.getDimSize(1);
    auto w = matrix(base.getWeight(), k, n);
    auto a = matrix(down.getWeight(), k, r);
    auto b = matrix(up.getWeight(), r, n);
    if (!w || !a || !b)
      return failure();
    std::vector<float> merged(static_cast<size_t>(k * n));
    std::vector<double> row(static_cast<size_t>(n));
    for (int64_t i = 0; i < k; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t j = 0; j < r; ++j) {
        double aij = (*a)[i * r + j];
        for (int64_t c = 0; c < n; ++c)
          row[c] += aij * (*b)[j * n + c];
      }
      for (int64_t c = 0; c < n; ++c)
        merged[i * n + c] = float((*w)[i * n + c] + scale * row[c]);
    }
    auto attr = DenseResourceElementsAttr::get(
        wType, "tailor_lora_merged",
        HeapAsmResourceBlob::allocateAndCopyInferAlign(
            ArrayRef<float>(merged), /*dataIsMutable=*/false));
    Location loc = FusedLoc::get(rewriter.getContext(),
                                 {base.getLoc(), add.getLoc()});
    Value weight = OnnxConstantOp::create(rewriter, loc, wType, attr, nullptr,
                                          nullptr, nullptr, nullptr, nullptr,
                                          nullptr);
    rewriter.replaceOpWithNewOp<LinearOp>(add, add.getType(), base.getInput(),
                                          weight, base.getBias());
    return success();
  }
};

struct LoRAMergePass
    : mlir::tailor::impl::TailorLoRAMergeBase<LoRAMergePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<MergeLoRA>(&getContext());
    // Each merge is counted by comparing linear counts before and after.
    unsigned before = 0, after = 0;
    getOperation().walk([&](LinearOp) { ++before; });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    getOperation().walk([&](LinearOp) { ++after; });
    numMerged += (before - after) / 2;
  }
};
} // namespace
