//===- TileTransposes.cpp - Blocked transposes shared by the threads -------===//
//
// A linalg.transpose that moves the innermost dim (a backward pass's X^T,
// attention's P^T) lowers to a loop nest that writes one row while reading
// down a column: with a row of 4 KB or more, every read touches another
// page and the same L1 set (a [8, 128, 1024] transpose ran at ~2 GB/s).
// This pass tiles the two dims involved into square blocks (each block's
// reads and writes stay in L1) under an scf.forall that the CPU pipeline
// lowers to OpenMP.

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/IR/PatternMatch.h"
#include "tailor/Transforms/Passes.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORTILETRANSPOSES
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
struct TileTransposesPass
    : mlir::tailor::impl::TailorTileTransposesBase<TileTransposesPass> {
  using TailorTileTransposesBase::TailorTileTransposesBase;

  void runOnOperation() override {
    if (block < 2) {
      getOperation().emitError("tailor-tile-transposes: block must be >= 2");
      return signalPassFailure();
    }
    SmallVector<linalg::TransposeOp> ops;
    getOperation().walk([&](linalg::TransposeOp op) {
      if (op.hasPureTensorSemantics() &&
          !op->getParentOfType<LoopLikeOpInterface>())
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    SmallVector<Operation *> blocks;
    for (linalg::TransposeOp op : ops) {
      ArrayRef<int64_t> perm = op.getPermutation();
      int64_t rank = perm.size();
      // Output loop `inner` is the output's innermost dim; loop `read` walks
      // the input's innermost dim.
      int64_t inner = rank - 1;
      int64_t read = llvm::find(perm, rank - 1) - perm.begin();
      if (rank < 2 || read == inner)
        continue;
      auto type = cast<ShapedType>(op.getInit().getType());
      bool f32 = type.getElementType().isF32();
      ArrayRef<int64_t> shape = type.getShape();
      if (ShapedType::isDynamic(shape[inner]) ||
          ShapedType::isDynamic(shape[read]) || shape[inner] < block ||
          shape[read] < block)
        continue;
      SmallVector<OpFoldResult> sizes(rank, rewriter.getIndexAttr(1));
      sizes[inner] = rewriter.getIndexAttr(block);
      sizes[read] = rewriter.getIndexAttr(block);
      scf::SCFTilingOptions options;
      options.setTileSizes(sizes);
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      rewriter.setInsertionPoint(op);
      auto tiled = scf::tileUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled)) {
        op.emitOpError("could not be tiled into blocks");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, tiled->replacements);
      blocks.push_back(tiled->loops.front());
      ++numTiled;
      // A 16 x 16 f32 block is transposed in registers (AVX-512 shuffles)
      // instead of LLVM's scatter stores.
      auto blockOp = cast<linalg::LinalgOp>(tiled->tiledOps.back());
      if (block == 16 && f32) {
        rewriter.setInsertionPoint(blockOp);
        FailureOr<linalg::GenericOp> generic =
            linalg::generalizeNamedOp(rewriter, blockOp);
        if (failed(generic))
          continue;
        rewriter.setInsertionPoint(*generic);
        FailureOr<linalg::VectorizationResult> v =
            linalg::vectorize(rewriter, *generic);
        if (succeeded(v))
          rewriter.replaceOp(*generic, v->replacements);
      }
    }
    // Lowered inside the blocks' loops only: the function's other vector
    // code (tailor-tile-contractions' micro-kernels) is left as it is.
    RewritePatternSet patterns(&getContext());
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
    vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
    vector::populateVectorTransposeLoweringPatterns(
        patterns, vector::VectorTransposeLowering::Shuffle16x16);
    SmallVector<Operation *> inBlocks;
    for (Operation *loop : blocks)
      loop->walk([&](Operation *inner) {
        if (inner != loop)
          inBlocks.push_back(inner);
      });
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    // Not converging within the driver's iteration limit leaves valid IR
    // (a block transposed element by element): no failure.
    (void)applyOpPatternsGreedily(inBlocks, std::move(patterns), config);
  }
};
} // namespace
