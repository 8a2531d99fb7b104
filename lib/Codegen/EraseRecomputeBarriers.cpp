//===- EraseRecomputeBarriers.cpp - Drop tailor.recompute_barrier ---------===//
//
// tailor-recompute routes the inputs of each recomputed segment through a
// tailor.recompute_barrier so that CSE keeps the copies apart from the
// forward ops. Once the kernels are outlined into calls (which CSE does not
// merge), the barriers have done their work: each becomes its operand.

#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORERASERECOMPUTEBARRIERS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
struct EraseRecomputeBarriersPass
    : mlir::tailor::impl::TailorEraseRecomputeBarriersBase<
          EraseRecomputeBarriersPass> {
  void runOnOperation() override {
    getOperation().walk([](tailor::RecomputeBarrierOp op) {
      op.getOutput().replaceAllUsesWith(op.getInput());
      op.erase();
    });
  }
};
} // namespace
