//===- LowerReductions.cpp - Reductions to loops with a register accumulator ===//
//
// convert-linalg-to-loops lowers `out[i] = out[i] + f(x[i, k])` (a
// softmax's row maximum and exponential sum, a norm's sum of squares, the
// backward pass's row sums) to a load and a store of out[i] in every
// iteration of k. LLVM cannot keep out[i] in a register unless it proves
// that the store does not alias the input loads, which it cannot for two
// memref descriptors: each iteration waits for the previous one's store
// (store-to-load forwarding) and nothing is vectorized. This pass lowers
// such a generic on buffers (every reduction loop after every parallel
// loop, outputs indexed by the parallel loops only) to scf.for loops over
// the parallel dimensions around an scf.for nest over the reduction
// dimensions that carries the accumulators as iter_args: one load and one
// store of each output element in all. With the combiner's `reassoc`
// (tailor-reassociate-reductions) LLVM then vectorizes the inner loop.

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORLOWERREDUCTIONS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
/// Whether `op` takes this lowering: on buffers, not a micro-kernel call,
/// at least one reduction loop, every reduction loop after every parallel
/// one, and each output indexed by the parallel loops only (a projected
/// permutation, or constants for unit dimensions), no input or output
/// sharing an output's buffer.
bool qualifies(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getLibraryCall())
    return false;
  auto iterators = op.getIteratorTypesArray();
  unsigned parallel = 0;
  while (parallel < iterators.size() &&
         iterators[parallel] == utils::IteratorType::parallel)
    ++parallel;
  if (parallel == iterators.size())
    return false;
  for (unsigned d = parallel; d < iterators.size(); ++d)
    if (iterators[d] != utils::IteratorType::reduction)
      return false;
  // The outputs are stored after the reduction loop, not in every
  // iteration: no input may read an output's buffer (bufferization copies
  // in that case; a buffer passed to a kernel twice is not produced), nor
  // two outputs share one.
  auto baseOf = [](Value v) {
    while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
      v = view.getViewSource();
    return v;
  };
  SmallVector<Value> outputs;
  for (OpOperand &init : op.getDpsInitsMutable()) {
    if (llvm::is_contained(outputs, baseOf(init.get())))
      return false;
    outputs.push_back(baseOf(init.get()));
  }
  for (OpOperand *in : op.getDpsInputOperands())
    if (isa<MemRefType>(in->get().getType()) &&
        llvm::is_contained(outputs, baseOf(in->get())))
      return false;
  for (OpOperand &init : op.getDpsInitsMutable()) {
    AffineMap map = op.getMatchingIndexingMap(&init);
    for (AffineExpr e : map.getResults()) {
      if (isa<AffineConstantExpr>(e))
        continue;
      auto dim = dyn_cast<AffineDimExpr>(e);
      if (!dim || dim.getPosition() >= parallel)
        return false;
    }
  }
  return true;
}

/// The indices `map` gives for the loop values `ivs` (affine.apply per
/// result; constants and plain dimensions directly).
SmallVector<Value> indicesOf(OpBuilder &b, Location loc, AffineMap map,
                             ValueRange ivs) {
  SmallVector<Value> indices;
  for (AffineExpr e : map.getResults()) {
    if (auto dim = dyn_cast<AffineDimExpr>(e)) {
      indices.push_back(ivs[dim.getPosition()]);
      continue;
    }
    if (auto c = dyn_cast<AffineConstantExpr>(e)) {
      indices.push_back(arith::ConstantIndexOp::create(b, loc, c.getValue()));
      continue;
    }
    indices.push_back(affine::AffineApplyOp::create(
        b, loc, AffineMap::get(map.getNumDims(), 0, e), ivs));
  }
  return indices;
}

struct LowerReductionsPass
    : mlir::tailor::impl::TailorLowerReductionsBase<LowerReductionsPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> work;
    getOperation().walk([&](linalg::GenericOp op) {
      if (qualifies(op))
        work.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : work) {
      lower(rewriter, op);
      ++numLowered;
    }
  }

  void lower(IRRewriter &b, linalg::GenericOp op) {
    Location loc = op.getLoc();
    b.setInsertionPoint(op);
    SmallVector<Range> ranges =
        cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(b, loc);
    unsigned parallel = 0;
    auto iterators = op.getIteratorTypesArray();
    while (iterators[parallel] == utils::IteratorType::parallel)
      ++parallel;
    auto bounds = [&](unsigned from, unsigned to) {
      SmallVector<Value> lbs, ubs, steps;
      for (unsigned d = from; d < to; ++d) {
        lbs.push_back(
            getValueOrCreateConstantIndexOp(b, loc, ranges[d].offset));
        ubs.push_back(getValueOrCreateConstantIndexOp(b, loc, ranges[d].size));
        steps.push_back(
            getValueOrCreateConstantIndexOp(b, loc, ranges[d].stride));
      }
      return std::make_tuple(lbs, ubs, steps);
    };
    auto [plbs, pubs, psteps] = bounds(0, parallel);
    auto [rlbs, rubs, rsteps] = bounds(parallel, iterators.size());
    Block *body = op.getBody();
    auto outputs = op.getDpsInitsMutable();
    scf::buildLoopNest(
        b, loc, plbs, pubs, psteps,
        [&](OpBuilder &pb, Location l, ValueRange outer) {
          // The accumulators: each output element, loaded once.
          SmallVector<Value> accs;
          SmallVector<SmallVector<Value>> outIndices;
          for (OpOperand &init : outputs) {
            outIndices.push_back(indicesOf(
                pb, l, op.getMatchingIndexingMap(&init), outer));
            accs.push_back(memref::LoadOp::create(pb, l, init.get(),
                                                  outIndices.back()));
          }
          scf::LoopNest nest = scf::buildLoopNest(
              pb, l, rlbs, rubs, rsteps, accs,
              [&](OpBuilder &rb, Location rl, ValueRange inner,
                  ValueRange iterArgs) -> scf::ValueVector {
                SmallVector<Value> ivs(outer.begin(), outer.end());
                ivs.append(inner.begin(), inner.end());
                IRMapping map;
                for (OpOperand *in : op.getDpsInputOperands()) {
                  BlockArgument arg = op.getMatchingBlockArgument(in);
                  if (!isa<MemRefType>(in->get().getType())) {
                    map.map(arg, in->get()); // a scalar operand
                    continue;
                  }
                  map.map(arg, memref::LoadOp::create(
                                   rb, rl, in->get(),
                                   indicesOf(rb, rl,
                                             op.getMatchingIndexingMap(in),
                                             ivs)));
                }
                for (auto [i, init] : llvm::enumerate(outputs))
                  map.map(op.getMatchingBlockArgument(&init), iterArgs[i]);
                for (Operation &inner : body->without_terminator()) {
                  if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
                    map.map(index.getResult(), ivs[index.getDim()]);
                    continue;
                  }
                  rb.clone(inner, map);
                }
                auto yield = cast<linalg::YieldOp>(body->getTerminator());
                scf::ValueVector results;
                for (Value v : yield.getValues())
                  results.push_back(map.lookupOrDefault(v));
                return results;
              });
          for (auto [i, init] : llvm::enumerate(outputs))
            memref::StoreOp::create(pb, l, nest.results[i], init.get(),
                                    outIndices[i]);
        });
    b.eraseOp(op);
  }
};
} // namespace
