//===- ParallelizeGenerics.cpp - Elementwise and reduction kernels on threads ===//
//
// tailor-tile-contractions shares the products' cache tiles among the
// threads; every other linalg.generic (elementwise maps, softmax and norm
// reductions, the backward pass's row reductions) would run on one thread.
// This pass splits such a generic along its first parallel loop of static
// extent >= 2 (one that indexes every output) into an scf.forall over
// about 16 chunks of that loop (OpenMP's static schedule gives each thread
// a contiguous range), when the generic has at least `min-iterations` loop
// iterations in all and its body has no side effects.

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORPARALLELIZEGENERICS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
struct ParallelizeGenericsPass
    : mlir::tailor::impl::TailorParallelizeGenericsBase<
          ParallelizeGenericsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, unsigned>> work;
    getOperation().walk([&](linalg::GenericOp op) {
      // Already tiled for the threads or a micro-kernel call
      // (tailor-tile-contractions), or not on tensors.
      if (!op.hasPureTensorSemantics() || op.getLibraryCall() ||
          op->getParentOfType<scf::ForallOp>() ||
          llvm::any_of(op->getAttrs(), [](NamedAttribute a) {
            return a.getName().getValue().starts_with("tailor.");
          }))
        return;
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      int64_t total = 1;
      for (int64_t r : ranges) {
        if (ShapedType::isDynamic(r))
          return;
        total *= r;
      }
      if (total < minIterations)
        return;
      // Only side-effect-free bodies: a bounds check (cf.assert, a
      // Gather's) reports through the calling thread's error handler,
      // which a worker thread does not have.
      bool pure = true;
      op.getBody()->walk([&](Operation *inner) {
        if (!isa<linalg::YieldOp>(inner) && !isMemoryEffectFree(inner))
          pure = false;
      });
      if (!pure)
        return;
      auto iterators = op.getIteratorTypesArray();
      for (unsigned d = 0; d < ranges.size(); ++d) {
        if (iterators[d] != utils::IteratorType::parallel || ranges[d] < 2)
          continue;
        // Every output is indexed by the loop: the iterations write
        // disjoint slices.
        AffineExpr dim = getAffineDimExpr(d, op.getContext());
        if (llvm::all_of(op.getDpsInitsMutable(), [&](OpOperand &init) {
              return op.getMatchingIndexingMap(&init)
                  .getResultPosition(dim)
                  .has_value();
            }))
          work.push_back({op, d});
        return;
      }
    });
    IRRewriter rewriter(&getContext());
    for (auto [op, dim] : work) {
      // Chunks: about 16 per loop (OpenMP's static schedule deals them
      // out), a divisor of the extent so that every slice is static, and
      // contiguous runs left to the inner loops' vectorization.
      int64_t extent = op.getStaticLoopRanges()[dim];
      int64_t chunk = std::max<int64_t>(1, (extent + 15) / 16);
      while (extent % chunk)
        ++chunk;
      SmallVector<OpFoldResult> sizes(op.getNumLoops(),
                                      rewriter.getIndexAttr(0));
      sizes[dim] = rewriter.getIndexAttr(chunk);
      scf::SCFTilingOptions options;
      options.setTileSizes(sizes);
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      rewriter.setInsertionPoint(op);
      auto tiled =
          scf::tileUsingSCF(rewriter, cast<TilingInterface>(*op), options);
      if (failed(tiled))
        continue; // stays on one thread
      rewriter.replaceOp(op, tiled->replacements);
      ++numParallelized;
    }
  }
};
} // namespace
