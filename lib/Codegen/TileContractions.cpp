//===- TileContractions.cpp - Register-tiled, vectorized contractions -----===//
//
// The CPU strategy for matrix products (../shared/notes/cpu-codegen.md):
// every linalg contraction with one M, one N and one K dim (batch dims
// allowed) is tiled on tensors to an MR x NR register tile with K innermost
// and one K step per iteration, the M and N loops are peeled so that full
// tiles have static shapes, a dynamic M remainder is split into single rows,
// and every static tile is vectorized into one vector.contract (lowered to
// outer products: NR/16 x MR zmm accumulators); the accumulator tile is
// hoisted out of the K loop so that it stays in registers. No masks: their
// upstream support is incomplete for broadcasting transfers (MLIR 22).
//
// The strategy (tile sizes, which ops) lives here; the lowering patterns
// that produced the linalg ops know nothing about it.

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORTILECONTRACTIONS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
constexpr StringLiteral kMicroKernel = "tailor.micro_kernel";
constexpr StringLiteral kRowBlock = "tailor.row_block";

/// The loop dims of a contraction this strategy handles, or failure.
struct Dims {
  SmallVector<unsigned> batch;
  unsigned m, n, k;
};
FailureOr<Dims> contractionDims(linalg::LinalgOp op) {
  if (!linalg::isaContractionOpInterface(op) || op.getNumDpsInits() != 1 ||
      !op.hasPureTensorSemantics())
    return failure();
  auto dims = linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1)
    return failure();
  if (!llvm::all_of(op->getOperandTypes(), [](Type t) {
        return cast<ShapedType>(t).getElementType().isF32();
      }))
    return failure();
  return Dims{SmallVector<unsigned>(dims->batch.begin(), dims->batch.end()),
              dims->m.front(), dims->n.front(), dims->k.front()};
}

struct TileContractionsPass
    : mlir::tailor::impl::TailorTileContractionsBase<TileContractionsPass> {
  using TailorTileContractionsBase::TailorTileContractionsBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    IRRewriter rewriter(&getContext());
    // 1. Cache tiles, then row blocks of MR rows (peeled: a full block has
    //    MR static rows, the remainder of a dynamic M runs row by row).
    if (failed(forEachMarked(rewriter, StringRef(), [&](linalg::LinalgOp op) {
          return tileCacheAndRows(rewriter, op);
        })))
      return signalPassFailure();
    // 2. Register tiles: [rows x NR] with K innermost; N peeled, so every
    //    full tile and every static remainder has a static shape.
    if (failed(forEachMarked(rewriter, kRowBlock, [&](linalg::LinalgOp op) {
          return tileRegisters(rewriter, op);
        })))
      return signalPassFailure();
    // 3. Vectorize the static kernels, keep accumulators in registers.
    if (failed(vectorizeMicroKernels(rewriter)))
      return signalPassFailure();
  }

  /// Runs `fn` on every contraction carrying `marker` (every contraction
  /// when empty) after folding constant sizes into static types.
  LogicalResult
  forEachMarked(IRRewriter &rewriter, StringRef marker,
                function_ref<LogicalResult(linalg::LinalgOp)> fn) {
    if (failed(foldStaticSizes()))
      return failure();
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (succeeded(contractionDims(op)) &&
          (marker.empty() ? !op->hasAttr(kRowBlock) && !op->hasAttr(kMicroKernel)
                          : op->hasAttr(marker)))
        ops.push_back(op);
    });
    for (linalg::LinalgOp op : ops) {
      if (!marker.empty())
        op->removeAttr(marker);
      if (failed(fn(op)))
        return failure();
    }
    return foldStaticSizes();
  }

  /// Folds the peeled loops' constant tile sizes into static slice types.
  LogicalResult foldStaticSizes() {
    // The canonicalizer's pattern set: constant sizes become static slice
    // types, single-iteration loops disappear, casts fold into the ops.
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    for (Dialect *dialect : ctx->getLoadedDialects())
      dialect->getCanonicalizationPatterns(patterns);
    for (RegisteredOperationName op : ctx->getRegisteredOperations())
      op.getCanonicalizationPatterns(patterns, ctx);
    scf::populateSCFForLoopCanonicalizationPatterns(patterns);
    return applyPatternsGreedily(getOperation(), std::move(patterns));
  }

  /// Tiles `op`'s loops: batch dims by 1, M/N/K by the given sizes (0: not
  /// tiled), loops ordered batch, M, N, K.
  FailureOr<scf::SCFTilingResult> tile(IRRewriter &rewriter,
                                       linalg::LinalgOp op, int64_t m,
                                       int64_t n, int64_t k) {
    Dims d = *contractionDims(op);
    SmallVector<OpFoldResult> sizes(op.getNumLoops(),
                                    rewriter.getIndexAttr(1));
    sizes[d.m] = rewriter.getIndexAttr(m);
    sizes[d.n] = rewriter.getIndexAttr(n);
    sizes[d.k] = rewriter.getIndexAttr(k);
    // tileUsingSCF's interchange lists, for each generated loop (tiled
    // dims only), the position among the tiled dims it iterates.
    SmallVector<int64_t> order(d.batch.begin(), d.batch.end());
    for (auto [dim, size] : {std::pair{d.m, m}, {d.n, n}, {d.k, k}})
      if (size)
        order.push_back(dim);
    SmallVector<int64_t> sorted(order);
    llvm::sort(sorted);
    SmallVector<int64_t> interchange;
    for (int64_t dim : order)
      interchange.push_back(llvm::find(sorted, dim) - sorted.begin());
    scf::SCFTilingOptions options;
    options.setTileSizes(sizes).setInterchange(interchange);
    rewriter.setInsertionPoint(op);
    auto tiled =
        scf::tileUsingSCF(rewriter, cast<TilingInterface>(*op), options);
    if (failed(tiled))
      return op.emitOpError("could not be tiled");
    rewriter.replaceOp(op, tiled->replacements);
    return tiled;
  }

  /// Peels `loop` (full iterations, then one partial one) and marks the
  /// contraction in each part with `fullMarker` / `partialMarker`.
  void peelAndMark(IRRewriter &rewriter, LoopLikeOpInterface loopLike,
                   StringRef fullMarker, StringRef partialMarker,
                   Attribute fullValue, Attribute partialValue) {
    auto loop = dyn_cast<scf::ForOp>(loopLike.getOperation());
    if (!loop)
      return;
    auto mark = [&](Operation *root, StringRef name, Attribute value) {
      root->walk([&](linalg::LinalgOp op) {
        if (succeeded(contractionDims(op)))
          op->setAttr(name, value);
      });
    };
    scf::ForOp partial;
    if (succeeded(scf::peelForLoopAndSimplifyBounds(rewriter, loop, partial)))
      mark(partial, partialMarker, partialValue);
    mark(loop, fullMarker, fullValue);
  }

  LogicalResult tileCacheAndRows(IRRewriter &rewriter, linalg::LinalgOp op) {
    // Cache level: an A block of MC x KC and a B panel of KC x NC stay in
    // L2 while the register tiles sweep them.
    auto cache = tile(rewriter, op, mc, nc, kc);
    if (failed(cache))
      return failure();
    auto inner = cast<linalg::LinalgOp>(cache->tiledOps.back());
    auto rows = tile(rewriter, inner, mr, 0, 0);
    if (failed(rows))
      return failure();
    UnitAttr unit = rewriter.getUnitAttr();
    cast<linalg::LinalgOp>(rows->tiledOps.back())->setAttr(kRowBlock, unit);
    peelAndMark(rewriter, rows->loops.back(), kRowBlock, kRowBlock, unit,
                unit);
    return success();
  }

  LogicalResult tileRegisters(IRRewriter &rewriter, linalg::LinalgOp op) {
    Dims d = *contractionDims(op);
    // A row block with a dynamic row count (< MR) runs one row at a time.
    int64_t rows = op.getStaticLoopRanges()[d.m];
    auto tiled =
        tile(rewriter, op, ShapedType::isDynamic(rows) ? 1 : rows, nr, 1);
    if (failed(tiled))
      return failure();
    UnitAttr unit = rewriter.getUnitAttr();
    tiled->tiledOps.back()->setAttr(kMicroKernel, unit);
    // Loops: [batch...] M N K; peel N.
    size_t numLoops = tiled->loops.size();
    peelAndMark(rewriter, tiled->loops[numLoops - 2], kMicroKernel,
                kMicroKernel, unit, unit);
    return success();
  }

  /// Vectorizes the marked micro-kernels that have static shapes (full
  /// tiles, static remainders, single rows). A kernel with a dynamic size
  /// left (a dynamic N remainder) stays a loop nest: correct, only slower.
  LogicalResult vectorizeMicroKernels(IRRewriter &rewriter) {
    SmallVector<linalg::LinalgOp> kernels;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op->hasAttr(kMicroKernel))
        kernels.push_back(op);
    });
    for (linalg::LinalgOp op : kernels) {
      op->removeAttr(kMicroKernel);
      if (op.hasDynamicShape())
        continue;
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::VectorizationResult> result =
          linalg::vectorize(rewriter, op);
      if (succeeded(result))
        rewriter.replaceOp(op, result->replacements);
    }
    MLIRContext *ctx = &getContext();
    {
      // Transfers read straight from the operands; the broadcasting form
      // the vectorizer emits becomes one vector.contract per tile.
      RewritePatternSet patterns(ctx);
      vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
      vector::populateVectorReductionToContractPatterns(patterns);
      tensor::populateFoldTensorSubsetIntoVectorTransferPatterns(patterns);
      if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
        return failure();
    }
    // Keep each accumulator tile in registers across its K loop.
    SmallVector<LoopLikeOpInterface> loops;
    getOperation().walk([&](LoopLikeOpInterface loop) {
      loops.push_back(loop);
    });
    for (LoopLikeOpInterface loop : loops)
      hoistLoopInvariantSubsets(rewriter, loop);
    return success();
  }
};
} // namespace
