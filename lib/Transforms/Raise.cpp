//===- Raise.cpp - The --tailor-raise pass: ONNX subgraphs -> LLM ops -----===//

#include "RaiseUtils.h"
#include "tailor/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORRAISE
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
struct RaisePass : public mlir::tailor::impl::TailorRaiseBase<RaisePass> {
  using TailorRaiseBase::TailorRaiseBase;
  /// Refines result types in order, so later phases see ranks and sizes.
  LogicalResult inferShapes(func::FuncOp func) {
    WalkResult result = func.walk([&](ShapeInferenceOpInterface op) {
      SmallVector<Type> types;
      if (failed(op.inferResultTypes(types)))
        return WalkResult::interrupt();
      for (auto [value, type] : llvm::zip(op->getResults(), types))
        if (type)
          value.setType(type);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return failure();
    Operation *terminator = func.getBody().back().getTerminator();
    func.setType(FunctionType::get(func.getContext(), func.getArgumentTypes(),
                                   terminator->getOperandTypes()));
    return success();
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    MLIRContext *ctx = &getContext();
    using Populate = void (*)(RewritePatternSet &);
    SmallVector<SmallVector<Populate>> phases = {
        {raise::populateRaiseLinearPatterns,
         raise::populateRaiseActivationPatterns,
         raise::populateRaiseNormPatterns},
        {raise::populateRaiseRotaryPatterns},
        {raise::populateRaiseAttentionPatterns},
        {raise::populateRaiseMoEPatterns},
    };
    if (this->phases < 1 || this->phases > int64_t(phases.size())) {
      func.emitError("tailor-raise: phases must be in [1, ")
          << phases.size() << "], got " << int64_t(this->phases);
      return signalPassFailure();
    }
    phases.resize(this->phases);
    for (auto &phase : phases) {
      if (failed(inferShapes(func)))
        return signalPassFailure();
      RewritePatternSet patterns(ctx);
      for (Populate populate : phase)
        populate(patterns);
      for (RegisteredOperationName name : ctx->getRegisteredOperations())
        if (name.getDialectNamespace() == TailorDialect::getDialectNamespace())
          name.getCanonicalizationPatterns(patterns, ctx);
      // Not converging within the driver's iteration limit leaves correct
      // (partly raised) IR: that is not an error.
      (void)applyPatternsGreedily(func, std::move(patterns));
    }
    if (failed(inferShapes(func)))
      return signalPassFailure();
  }
};
} // namespace
