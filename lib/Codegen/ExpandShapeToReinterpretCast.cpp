//===- ExpandShapeToReinterpretCast.cpp - MLIR 22 expand_shape workaround -===//
//
// memref.expand_shape with several dynamic sizes in one reassociation group
// becomes a memref.reinterpret_cast, which expand-strided-metadata handles.
// MLIR 22 crashes on the former (llvm/llvm-project#186830).

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILOREXPANDSHAPETOREINTERPRETCAST
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
bool hasGroupWithSeveralDynamicSizes(memref::ExpandShapeOp op) {
  MemRefType type = op.getResultType();
  for (const ReassociationIndices &group : op.getReassociationIndices())
    if (llvm::count_if(group, [&](int64_t d) { return type.isDynamicDim(d); }) >
        1)
      return true;
  return false;
}

struct ExpandShapeToReinterpretCast
    : OpRewritePattern<memref::ExpandShapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::ExpandShapeOp op,
                                PatternRewriter &rewriter) const override {
    if (!hasGroupWithSeveralDynamicSizes(op))
      return failure();
    MemRefType type = op.getResultType();
    SmallVector<int64_t> typeStrides;
    int64_t typeOffset;
    if (failed(type.getStridesAndOffset(typeStrides, typeOffset)))
      return rewriter.notifyMatchFailure(op, "result layout is not strided");
    Location loc = op.getLoc();
    auto meta =
        memref::ExtractStridedMetadataOp::create(rewriter, loc, op.getSrc());
    SmallVector<OpFoldResult> srcStrides = meta.getConstifiedMixedStrides();
    SmallVector<OpFoldResult> sizes = op.getMixedOutputShape();
    SmallVector<OpFoldResult> strides(type.getRank());
    // Within a group the innermost dim keeps the source dim's stride; each
    // outer one steps over the sizes inside it.
    for (auto [srcDim, group] : llvm::enumerate(op.getReassociationIndices())) {
      OpFoldResult stride = srcStrides[srcDim];
      for (int64_t d : llvm::reverse(group)) {
        strides[d] = stride;
        auto s = getConstantIntValue(stride), n = getConstantIntValue(sizes[d]);
        if (s && n) {
          stride = rewriter.getIndexAttr(*s * *n);
          continue;
        }
        Value sv = getValueOrCreateConstantIndexOp(rewriter, loc, stride);
        Value nv = getValueOrCreateConstantIndexOp(rewriter, loc, sizes[d]);
        stride = arith::MulIOp::create(rewriter, loc, sv, nv).getResult();
      }
    }
    // Where the result type has a static stride or offset the op must say
    // so with a constant; where it is dynamic, with a value.
    auto conform = [&](OpFoldResult v, int64_t typeValue) -> OpFoldResult {
      if (ShapedType::isDynamic(typeValue))
        return getValueOrCreateConstantIndexOp(rewriter, loc, v);
      return rewriter.getIndexAttr(typeValue);
    };
    for (auto [i, s] : llvm::enumerate(strides))
      s = conform(s, typeStrides[i]);
    for (auto [i, s] : llvm::enumerate(sizes))
      s = conform(s, type.getDimSize(i));
    OpFoldResult offset = conform(meta.getConstifiedMixedOffset(), typeOffset);
    rewriter.replaceOpWithNewOp<memref::ReinterpretCastOp>(
        op, type, meta.getBaseBuffer(), offset, sizes, strides);
    return success();
  }
};

struct ExpandShapeToReinterpretCastPass
    : mlir::tailor::impl::TailorExpandShapeToReinterpretCastBase<
          ExpandShapeToReinterpretCastPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](memref::ExpandShapeOp op) {
      if (hasGroupWithSeveralDynamicSizes(op))
        ops.push_back(op);
    });
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandShapeToReinterpretCast>(&getContext());
    bool allErased = false;
    if (failed(applyOpPatternsGreedily(ops, std::move(patterns),
                                       GreedyRewriteConfig(), nullptr,
                                       &allErased)))
      return signalPassFailure();
    numRewritten += ops.size();
    // A layout the rewrite cannot express would crash the upstream pass
    // that follows: fail here with the op's location instead.
    getOperation().walk([&](memref::ExpandShapeOp op) {
      if (hasGroupWithSeveralDynamicSizes(op)) {
        op.emitOpError("has several dynamic sizes in one group and a "
                       "non-strided layout; cannot lower it");
        signalPassFailure();
      }
    });
  }
};
} // namespace
