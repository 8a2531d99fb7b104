//===- ReassociateReductions.cpp - reductions in any order ----------------===//
//
// The combiner of a linalg reduction (`out = out + f(x)`) becomes, after
// convert-linalg-to-loops, a loop-carried scalar chain. Without `reassoc`
// LLVM must keep IEEE order and leaves it scalar: one add per FP latency.
// With it, the loop vectorizer sums in vector lanes over several
// accumulators. ONNX does not fix the order of a reduction, so this is the
// same freedom every other backend takes.

#include "tailor/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORREASSOCIATEREDUCTIONS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
/// Whether `op` combines an output block argument of `generic` (the
/// accumulator) with another value.
bool isCombiner(Operation *op, linalg::GenericOp generic) {
  if (!isa<arith::AddFOp, arith::MulFOp, arith::MaximumFOp, arith::MinimumFOp,
           arith::MaxNumFOp, arith::MinNumFOp>(op))
    return false;
  Block *body = generic.getBody();
  for (OpOperand &init : generic.getDpsInitsMutable()) {
    BlockArgument acc = generic.getMatchingBlockArgument(&init);
    if (acc.getOwner() == body && llvm::is_contained(op->getOperands(), acc))
      return true;
  }
  return false;
}

struct ReassociateReductionsPass
    : mlir::tailor::impl::TailorReassociateReductionsBase<
          ReassociateReductionsPass> {
  void runOnOperation() override {
    getOperation().walk([&](linalg::GenericOp generic) {
      if (generic.getNumReductionLoops() == 0)
        return;
      for (Operation &op : generic.getBody()->without_terminator()) {
        if (!isCombiner(&op, generic))
          continue;
        auto fm = cast<arith::ArithFastMathInterface>(op);
        arith::FastMathFlags flags = fm.getFastMathFlagsAttr().getValue();
        if (arith::bitEnumContainsAll(flags, arith::FastMathFlags::reassoc))
          continue;
        op.setAttr(fm.getFastMathAttrName(),
                   arith::FastMathFlagsAttr::get(
                       &getContext(), flags | arith::FastMathFlags::reassoc));
        ++numCombiners;
      }
    });
  }
};
} // namespace
