//===- InferShapes.cpp - Refine result types with shape inference ---------===//

#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORINFERSHAPES
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
struct InferShapesPass
    : public mlir::tailor::impl::TailorInferShapesBase<InferShapesPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    bool failedAny = false;
    // Ops are visited in order, so operands are refined before their users.
    func.walk([&](ShapeInferenceOpInterface op) {
      SmallVector<Type> types;
      if (failed(op.inferResultTypes(types))) {
        failedAny = true;
        return;
      }
      for (auto [result, type] : llvm::zip(op->getResults(), types)) {
        if (!type || type == result.getType())
          continue;
        result.setType(type);
        ++numRefined;
      }
    });
    if (failedAny)
      return signalPassFailure();
    // Keep the signature in step with what the body now returns.
    if (func.isExternal())
      return;
    Operation *terminator = func.getBody().back().getTerminator();
    auto newType = FunctionType::get(&getContext(),
                                     func.getArgumentTypes(),
                                     terminator->getOperandTypes());
    if (newType != func.getFunctionType())
      func.setType(newType);
  }
};
} // namespace
