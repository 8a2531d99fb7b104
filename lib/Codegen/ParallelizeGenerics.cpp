//===- ParallelizeGenerics.cpp - Elementwise and reduction kernels on threads ===//
//
// tailor-tile-contractions shares the products' cache tiles among the
// threads; every other linalg.generic (elementwise maps, softmax and norm
// reductions, the backward pass's row reductions) would run on one thread.
// This pass splits such a generic (or a linalg.fill) along its first
// parallel loop of static extent >= 2 (one that indexes every output) into
// an scf.forall over about 16 chunks of that loop (OpenMP's static
// schedule gives each thread a contiguous range), when the op has at least
// `min-iterations` loop iterations in all and its body has no side
// effects. With dynamic sizes (an inference model's batch and sequence)
// and no such static loop, the first two dynamic loops that qualify are
// split (one chunk per iteration of the first, about 16 of the second)
// behind a run-time check of the iteration count: a decode step's small
// maps stay on the calling thread.

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
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
/// How to split one op: a loop (`dims[0]`) in static chunks of `chunk`
/// iterations, or, with dynamic sizes, up to two loops: `dims[0]` by 1 and
/// `dims[1]` (or `dims[0]` alone) in about 16 chunks computed at run time.
struct Split {
  linalg::LinalgOp op;
  SmallVector<unsigned, 2> dims;
  int64_t chunk = 0; // 0: dynamic sizes, split behind a run-time check
};

struct ParallelizeGenericsPass
    : mlir::tailor::impl::TailorParallelizeGenericsBase<
          ParallelizeGenericsPass> {
  using Base::Base;

  /// Whether `op` is one this pass splits (see the pass description).
  static bool eligible(linalg::LinalgOp op) {
    auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
    if (!generic && !isa<linalg::FillOp>(op.getOperation()))
      return false;
    // Already tiled for the threads or a micro-kernel call
    // (tailor-tile-contractions; a product's fill fused into its tiles sits
    // in their loops), or not on tensors.
    if (!op.hasPureTensorSemantics() ||
        (generic && generic.getLibraryCall()) ||
        op->getParentOfType<scf::ForallOp>() ||
        op->getParentOfType<scf::ForOp>() ||
        llvm::any_of(op->getAttrs(), [](NamedAttribute a) {
          return a.getName().getValue().starts_with("tailor.");
        }))
      return false;
    // Only side-effect-free bodies: a bounds check (cf.assert, a Gather's)
    // reports through the calling thread's error handler, which a worker
    // thread does not have.
    bool pure = true;
    op.getBlock()->walk([&](Operation *inner) {
      if (!isa<linalg::YieldOp>(inner) && !isMemoryEffectFree(inner))
        pure = false;
    });
    return pure;
  }

  /// The split of `op`, if any: loops that are parallel and index every
  /// output (the iterations write disjoint slices).
  std::optional<Split> splitOf(linalg::LinalgOp op) {
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    auto iterators = op.getIteratorTypesArray();
    bool dynamic = false;
    int64_t total = 1;
    for (int64_t r : ranges) {
      if (ShapedType::isDynamic(r))
        dynamic = true;
      else
        total *= r;
    }
    if (!dynamic && total < minIterations)
      return std::nullopt;
    auto splittable = [&](unsigned d) {
      if (iterators[d] != utils::IteratorType::parallel || ranges[d] == 1)
        return false;
      AffineExpr dim = getAffineDimExpr(d, op.getContext());
      return llvm::all_of(op.getDpsInitsMutable(), [&](OpOperand &init) {
        return op.getMatchingIndexingMap(&init)
            .getResultPosition(dim)
            .has_value();
      });
    };
    // The first parallel loop that is not a unit loop must qualify.
    for (unsigned d = 0; d < ranges.size(); ++d) {
      if (iterators[d] != utils::IteratorType::parallel || ranges[d] == 1 ||
          ranges[d] == 0)
        continue;
      if (!splittable(d))
        return std::nullopt;
      if (!dynamic) {
        // About 16 chunks (OpenMP's static schedule deals them out), a
        // divisor of the extent so that every slice is static, contiguous
        // runs left to the inner loops' vectorization.
        int64_t chunk = std::max<int64_t>(1, (ranges[d] + 15) / 16);
        while (ranges[d] % chunk)
          ++chunk;
        return Split{op, {d}, chunk};
      }
      // Dynamic sizes (batch, sequence): this loop and the next that
      // qualifies, chunked at run time.
      Split split{op, {d}, 0};
      for (unsigned e = d + 1; e < ranges.size(); ++e)
        if (iterators[e] == utils::IteratorType::parallel && ranges[e] != 1 &&
            ranges[e] != 0) {
          if (splittable(e))
            split.dims.push_back(e);
          break;
        }
      return split;
    }
    return std::nullopt;
  }

  void runOnOperation() override {
    SmallVector<Split> work;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (!eligible(op))
        return;
      if (std::optional<Split> split = splitOf(op))
        work.push_back(*split);
    });
    IRRewriter rewriter(&getContext());
    for (Split &split : work)
      if (succeeded(split.chunk ? tile(rewriter, split.op, split)
                                : tileGuarded(rewriter, split)))
        ++numParallelized;
  }

  /// Replaces `op` by an scf.forall over the chunks `split` describes.
  LogicalResult tile(IRRewriter &rewriter, linalg::LinalgOp op,
                     const Split &split) {
    rewriter.setInsertionPoint(op);
    Location loc = op.getLoc();
    SmallVector<OpFoldResult> sizes(op.getNumLoops(),
                                    rewriter.getIndexAttr(0));
    if (split.chunk) {
      sizes[split.dims[0]] = rewriter.getIndexAttr(split.chunk);
    } else {
      // About 16 chunks. One loop: ceil(n / 16) iterations per chunk. Two
      // (n1, n2): for n1 >= 16, ceil(n1 / 16) iterations of the first per
      // chunk; else one of the first and ceil(n2 / ceil(16 / n1)) of the
      // second (a batch of one: its sequence in about 16 chunks).
      SmallVector<Range> ranges = op.createLoopRanges(rewriter, loc);
      auto extent = [&](unsigned d) {
        return getValueOrCreateConstantIndexOp(rewriter, loc, ranges[d].size);
      };
      Value sixteen = arith::ConstantIndexOp::create(rewriter, loc, 16);
      Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
      // At least 1 (the divisions below), though the guard's count is
      // positive unless min-iterations is 0.
      Value n1 = arith::MaxUIOp::create(rewriter, loc, extent(split.dims[0]),
                                        one);
      Value perChunk1 = arith::CeilDivUIOp::create(rewriter, loc, n1, sixteen);
      if (split.dims.size() == 1) {
        sizes[split.dims[0]] = perChunk1;
      } else {
        Value n2 =
            arith::MaxUIOp::create(rewriter, loc, extent(split.dims[1]), one);
        Value many = arith::CmpIOp::create(
            rewriter, loc, arith::CmpIPredicate::uge, n1, sixteen);
        Value perChunk2 = arith::CeilDivUIOp::create(
            rewriter, loc, n2,
            arith::CeilDivUIOp::create(rewriter, loc, sixteen, n1));
        sizes[split.dims[0]] =
            arith::SelectOp::create(rewriter, loc, many, perChunk1, one)
                .getResult();
        sizes[split.dims[1]] =
            arith::SelectOp::create(rewriter, loc, many, n2, perChunk2)
                .getResult();
      }
    }
    scf::SCFTilingOptions options;
    options.setTileSizes(sizes);
    options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
    auto tiled =
        scf::tileUsingSCF(rewriter, cast<TilingInterface>(*op), options);
    if (failed(tiled))
      return failure(); // stays on one thread
    rewriter.replaceOp(op, tiled->replacements);
    return success();
  }

  /// Dynamic sizes: `scf.if (iterations >= min-iterations)` the split op,
  /// else the op as it was (a decode step's elementwise maps stay on the
  /// calling thread).
  LogicalResult tileGuarded(IRRewriter &rewriter, const Split &split) {
    linalg::LinalgOp op = split.op;
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value total = arith::ConstantIndexOp::create(rewriter, loc, 1);
    for (Range r : op.createLoopRanges(rewriter, loc))
      total = arith::MulIOp::create(
          rewriter, loc, total,
          getValueOrCreateConstantIndexOp(rewriter, loc, r.size));
    Value enough = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::uge, total,
        arith::ConstantIndexOp::create(rewriter, loc, minIterations));
    auto ifOp = scf::IfOp::create(rewriter, loc, op->getResultTypes(), enough,
                                  /*withElseRegion=*/true);
    rewriter.setInsertionPointToStart(ifOp.elseBlock());
    Operation *serial = rewriter.clone(*op);
    scf::YieldOp::create(rewriter, loc, serial->getResults());
    rewriter.setInsertionPointToStart(ifOp.thenBlock());
    auto parallel = cast<linalg::LinalgOp>(rewriter.clone(*op));
    scf::YieldOp::create(rewriter, loc, parallel->getResults());
    if (failed(tile(rewriter, parallel, split))) {
      rewriter.eraseOp(ifOp);
      return failure();
    }
    rewriter.replaceOp(op, ifOp.getResults());
    return success();
  }
};
} // namespace
