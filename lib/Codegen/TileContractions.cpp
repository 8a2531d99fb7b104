//===- TileContractions.cpp - Register-tiled, vectorized contractions -----===//
//
// The CPU strategy for matrix products (../shared/notes/cpu-codegen.md), on
// every f32 linalg contraction, or f32 x i8 (a per-channel int8 weight,
// converted in the kernel), extra M/N dims iterated like batch dims:
//  0. the row count decides the path, at run time when it is dynamic:
//     fewer than MR rows (a decode step) -> matrix-vector, else matrix-matrix;
//  1. matrix-matrix: MC x NC cache tiles shared by the threads (scf.forall ->
//     OpenMP; NC narrowed where that gives too few tiles, or an odd count,
//     to share evenly), KC depth tiles, MR-row blocks peeled; a block becomes MR x NR
//     register tiles with K innermost, one K step per iteration, N peeled;
//     remaining rows run one at a time;
//  2. matrix-vector: column chunks shared by the threads, 1 x NR tiles with
//     K outside N reading KR weight rows per step (rows stream, no column
//     walks), K and N peeled;
//  3. every static tile becomes one vector.contract (lowered to outer
//     products: NR/16 x MR zmm accumulators); accumulators are hoisted out
//     of the K loop so they stay in registers.
// A linalg.fill of the output (tailor-outline-kernels puts it in the
// product's kernel) is fused into each tiling that leaves K whole, so with
// K <= KC the register tiles start at the fill value: the output is written
// once, never filled and re-read.
// No masks: MLIR 22's vector.mask support breaks on broadcasting transfers,
// so a dynamic remainder that peeling cannot make static stays scalar.
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
#include "mlir/IR/IRMapping.h"
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
constexpr StringLiteral kMatVec = "tailor.matvec";
constexpr StringLiteral kMatMat = "tailor.matmat";

/// The loop dims of a contraction this strategy handles, or failure.
struct Dims {
  SmallVector<unsigned> batch;
  /// The outer N dims among `batch` (e.g. the panel index of a weight
  /// packed by tailor-pack-weights).
  SmallVector<unsigned> outerN;
  unsigned m, n, k;
};
FailureOr<Dims> contractionDims(linalg::LinalgOp op) {
  if (!linalg::isaContractionOpInterface(op) || op.getNumDpsInits() != 1 ||
      !op.hasPureTensorSemantics())
    return failure();
  // One reduction loop: a second one that only an input indexes would be
  // tiled like a batch dim, i.e. shared by the threads while every
  // iteration accumulates into the same output.
  auto dims = linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.empty() || dims->n.empty() ||
      dims->k.size() != 1 || op.getNumReductionLoops() != 1)
    return failure();
  // f32 throughout, or an i8 right operand (a weight quantized per output
  // channel: the body converts it to f32 before the multiply).
  auto elementType = [&](unsigned i) {
    return cast<ShapedType>(op->getOperand(i).getType()).getElementType();
  };
  if (!elementType(0).isF32() || !elementType(2).isF32() ||
      !(elementType(1).isF32() || elementType(1).isInteger(8)))
    return failure();
  // Several M (or N) dims, e.g. [batch, sequence] rows once reshapes were
  // folded into the product: the innermost one is the register tile's M,
  // the outer ones are iterated one at a time like batch dims.
  SmallVector<unsigned> batch(dims->batch.begin(), dims->batch.end());
  batch.append(dims->m.begin(), dims->m.end() - 1);
  batch.append(dims->n.begin(), dims->n.end() - 1);
  SmallVector<unsigned> outerN(dims->n.begin(), dims->n.end() - 1);
  return Dims{batch, outerN, dims->m.back(), dims->n.back(),
              dims->k.front()};
}

struct TileContractionsPass
    : mlir::tailor::impl::TailorTileContractionsBase<TileContractionsPass> {
  using TailorTileContractionsBase::TailorTileContractionsBase;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    if (threads && failed(splitLibraryCalls(rewriter)))
      return signalPassFailure();
    // 0. Fewer rows than MR (a decode step) take a matrix-vector path: a
    //    dynamic row count is tested at run time.
    if (failed(forEachMarked(rewriter, StringRef(), [&](linalg::LinalgOp op) {
          return versionOnRows(rewriter, op);
        })))
      return signalPassFailure();
    if (failed(forEachMarked(rewriter, kMatVec, [&](linalg::LinalgOp op) {
          return tileMatVec(rewriter, op);
        })))
      return signalPassFailure();
    // 1. Cache tiles, then row blocks of MR rows (peeled: a full block has
    //    MR static rows, the remainder of a dynamic M runs row by row).
    if (failed(forEachMarked(rewriter, kMatMat, [&](linalg::LinalgOp op) {
          return tileCacheAndRows(rewriter, op);
        })))
      return signalPassFailure();
    // 1b. A dynamic remainder of fewer than MR rows (128 = 21 x 6 + 2)
    //     is switched on its row count: each count gets a static kernel
    //     (2 rows: twice the FMA chains of a row at a time).
    if (failed(forEachMarked(rewriter, kRowBlock, [&](linalg::LinalgOp op) {
          return switchOnRemainderRows(rewriter, op);
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

  /// Micro-kernel calls (generics with a `tailor_*` library_call whose loop
  /// 1 is the column tile, of the output's last size: 8 or 16 columns, see
  /// Contraction.cpp): chunks of kernelColumns columns (at least one tile)
  /// shared by the threads, each chunk one call.
  LogicalResult splitLibraryCalls(IRRewriter &rewriter) {
    if (kernelColumns < 8 || kernelColumns % 8) {
      getOperation().emitError(
          "tailor-tile-contractions: kernel-columns must be a positive "
          "multiple of 8");
      return failure();
    }
    SmallVector<linalg::GenericOp> calls;
    getOperation().walk([&](linalg::GenericOp op) {
      std::optional<StringRef> name = op.getLibraryCall();
      if (name && name->starts_with("tailor_") && op.getNumLoops() > 1 &&
          op.hasPureTensorSemantics())
        calls.push_back(op);
    });
    for (linalg::GenericOp op : calls) {
      SmallVector<OpFoldResult> sizes(op.getNumLoops(),
                                      rewriter.getIndexAttr(0));
      auto out = cast<ShapedType>(op.getDpsInits()[0].getType());
      int64_t width = out.getShape().back();
      if (ShapedType::isDynamic(width) || width <= 0)
        return op.emitOpError("has no static column tile to split by");
      sizes[1] = rewriter.getIndexAttr(std::max<int64_t>(1, kernelColumns / width));
      scf::SCFTilingOptions options;
      options.setTileSizes(sizes);
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      rewriter.setInsertionPoint(op);
      auto tiled =
          scf::tileUsingSCF(rewriter, cast<TilingInterface>(*op), options);
      if (failed(tiled))
        return op.emitOpError("could not be split into thread chunks");
      rewriter.replaceOp(op, tiled->replacements);
    }
    return success();
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
          (marker.empty() ? llvm::none_of(op->getAttrs(),
                                          [](NamedAttribute a) {
                                            return a.getName().strref()
                                                .starts_with("tailor.");
                                          })
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
  /// tiled), loops ordered batch, M, N, K (batch, M, K, N with `kBeforeN`).
  /// A tiling: the tiled op, its loops (outermost first), and the output's
  /// fill where it was fused into the tiles.
  struct Tiled {
    Operation *op;
    SmallVector<LoopLikeOpInterface> loops;
    SmallVector<Operation *> fills;
  };

  FailureOr<Tiled> tile(IRRewriter &rewriter,
                                       linalg::LinalgOp op, int64_t m,
                                       int64_t n, int64_t k,
                                       bool kBeforeN = false,
                                       bool forall = false,
                                       int64_t nOuter = 1) {
    Dims d = *contractionDims(op);
    SmallVector<OpFoldResult> sizes(op.getNumLoops(),
                                    rewriter.getIndexAttr(1));
    for (unsigned dim : d.outerN)
      sizes[dim] = rewriter.getIndexAttr(nOuter);
    sizes[d.m] = rewriter.getIndexAttr(m);
    sizes[d.n] = rewriter.getIndexAttr(n);
    sizes[d.k] = rewriter.getIndexAttr(k);
    // tileUsingSCF's interchange lists, for each generated loop (tiled
    // dims only), the position among the tiled dims it iterates.
    SmallVector<int64_t> order(d.batch.begin(), d.batch.end());
    std::pair<unsigned, int64_t> loops[] = {{d.m, m}, {d.n, n}, {d.k, k}};
    if (kBeforeN)
      std::swap(loops[1], loops[2]);
    for (auto [dim, size] : loops)
      if (size)
        order.push_back(dim);
    SmallVector<int64_t> sorted(order);
    llvm::sort(sorted);
    SmallVector<int64_t> interchange;
    for (int64_t dim : order)
      interchange.push_back(llvm::find(sorted, dim) - sorted.begin());
    scf::SCFTilingOptions options;
    options.setTileSizes(sizes);
    if (forall)
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
    else
      options.setInterchange(interchange);
    rewriter.setInsertionPoint(op);
    // The output's linalg.fill (moved into this kernel by
    // tailor-outline-kernels) follows the tiles down while K is not tiled:
    // each tile fills its own slice right before accumulating into it, and
    // once vectorized the accumulators start at the fill value.
    // Only when every tiled loop is parallel: a fill inside a loop over a
    // reduction dim (K, or one only an input indexes) would restart the sum.
    auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    bool onlyParallel = llvm::all_of(
        llvm::seq<unsigned>(0, op.getNumLoops()), [&](unsigned dim) {
          return isZeroInteger(sizes[dim]) ||
                 iterators[dim] == utils::IteratorType::parallel;
        });
    if (fill && onlyParallel) {
      scf::SCFTileAndFuseOptions fuse;
      fuse.setTilingOptions(options);
      fuse.setFusionControlFn(
          [](tensor::ExtractSliceOp, OpResult producer, bool destination)
              -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
            if (destination && isa<linalg::FillOp>(producer.getOwner()))
              return scf::SCFTileAndFuseOptions::ControlFnResult{};
            return std::nullopt;
          });
      auto fused = scf::tileConsumerAndFuseProducersUsingSCF(
          rewriter, cast<TilingInterface>(*op), fuse);
      if (failed(fused))
        return op.emitOpError("could not be tiled");
      for (OpResult result : op->getResults())
        if (Value replacement = fused->replacements.lookup(result))
          rewriter.replaceAllUsesWith(result, replacement);
      rewriter.eraseOp(op);
      if (fill->use_empty())
        rewriter.eraseOp(fill);
      Tiled t{fused->tiledAndFusedOps.front(), fused->loops, {}};
      for (Operation *other : llvm::drop_begin(fused->tiledAndFusedOps))
        if (isa<linalg::FillOp>(other))
          t.fills.push_back(other);
      return t;
    }
    auto tiled =
        scf::tileUsingSCF(rewriter, cast<TilingInterface>(*op), options);
    if (failed(tiled))
      return op.emitOpError("could not be tiled");
    rewriter.replaceOp(op, tiled->replacements);
    return Tiled{tiled->tiledOps.back(), tiled->loops, {}};
  }

  /// Peels `loop` into full iterations and one partial one (the partial
  /// copy of the body keeps the contraction's marker).
  void peel(IRRewriter &rewriter, LoopLikeOpInterface loopLike) {
    if (auto loop = dyn_cast<scf::ForOp>(loopLike.getOperation())) {
      scf::ForOp partial;
      (void)scf::peelForLoopAndSimplifyBounds(rewriter, loop, partial);
    }
  }

  LogicalResult tileCacheAndRows(IRRewriter &rewriter, linalg::LinalgOp op) {
    // Cache level: an A block of MC x KC and a B panel of KC x NC stay in
    // L2 while the register tiles sweep them.
    // With threads, the M x N cache tiles are an scf.forall (each thread
    // owns whole output tiles); K stays sequential inside.
    // A packed weight ([N/NR, K, NR] panels): N is NR wide, so a cache
    // tile takes NC/NR panels (the outer N dim) instead.
    Dims d = *contractionDims(op);
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    int64_t n = ranges[d.n], nOuter = 1, ncTile = nc;
    bool packed = d.outerN.size() == 1 && !ShapedType::isDynamic(n) &&
                  n > 0 && n < nc;
    if (packed)
      nOuter = std::max<int64_t>(1, nc / n);
    if (threads) {
      // Enough cache tiles for the threads: a prompt of up to mc rows is
      // one row of tiles, and a 384-column product is then 3 tiles, 2 + 1
      // on two threads (a 128-column one: 1 + 0). The column tiles narrow
      // (down to one register tile) until there are at least minTiles of
      // them in all, an even count, each the same width.
      int64_t others = 1;
      if (!ShapedType::isDynamic(ranges[d.m]))
        others = llvm::divideCeil(ranges[d.m], mc);
      for (unsigned dim : d.batch)
        if (!llvm::is_contained(d.outerN, dim) &&
            !ShapedType::isDynamic(ranges[dim]))
          others *= ranges[dim];
      if (packed)
        nOuter = narrowForThreads(ranges[d.outerN.front()], nOuter, 1, others);
      else if (!ShapedType::isDynamic(n))
        ncTile = narrowForThreads(n, nc, nr, others);
    }
    // K within one depth tile gets no K loop: the output's fill then
    // reaches the register tiles (see tile()).
    int64_t depthK = ranges[d.k];
    auto cache = tile(rewriter, op, mc, ncTile, 0, false, /*forall=*/threads,
                      nOuter);
    if (failed(cache))
      return failure();
    auto inner = cast<linalg::LinalgOp>(cache->op);
    if (ShapedType::isDynamic(depthK) || depthK > kc) {
      auto depth = tile(rewriter, inner, 0, 0, kc);
      if (failed(depth))
        return failure();
      inner = cast<linalg::LinalgOp>(depth->op);
    }
    auto rows = tile(rewriter, inner, mr, 0, 0);
    if (failed(rows))
      return failure();
    UnitAttr unit = rewriter.getUnitAttr();
    cast<linalg::LinalgOp>(rows->op)->setAttr(kRowBlock, unit);
    peel(rewriter, rows->loops.back());
    return success();
  }

  /// A column tile width, `width` halved while `total` columns (or
  /// panels) in tiles of it, times `others` tiles, are fewer than
  /// minTiles or an odd count, and half the width still divides `total`
  /// and is at least `least`.
  int64_t narrowForThreads(int64_t total, int64_t width, int64_t least,
                           int64_t others) {
    auto tiles = [&](int64_t w) { return others * ((total + w - 1) / w); };
    while (width / 2 >= least && total % (width / 2) == 0 &&
           (tiles(width) < minTiles || tiles(width) % 2))
      width /= 2;
    return width;
  }

  /// Marks `op` for the matrix-vector path (fewer than MR rows) or the
  /// matrix-matrix path; with a dynamic row count, both versions are
  /// emitted under an scf.if on it.
  LogicalResult versionOnRows(IRRewriter &rewriter, linalg::LinalgOp op) {
    Dims d = *contractionDims(op);
    UnitAttr unit = rewriter.getUnitAttr();
    int64_t rows = op.getStaticLoopRanges()[d.m];
    if (!ShapedType::isDynamic(rows)) {
      op->setAttr(rows < mr ? kMatVec : kMatMat, unit);
      return success();
    }
    // The row count: the init operand's dim that iterates M.
    OpOperand *init = op.getDpsInitOperand(0);
    AffineMap map = op.getMatchingIndexingMap(init);
    std::optional<unsigned> pos =
        map.getResultPosition(rewriter.getAffineDimExpr(d.m));
    if (!pos)
      return op.emitOpError("has no result dim for its rows");
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value count = tensor::DimOp::create(rewriter, loc, init->get(), *pos);
    Value few = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::slt, count,
        arith::ConstantIndexOp::create(rewriter, loc, mr));
    auto ifOp = scf::IfOp::create(rewriter, loc, op->getResultTypes(), few,
                                  /*withElseRegion=*/true);
    for (auto [block, marker] :
         {std::pair{ifOp.thenBlock(), kMatVec}, {ifOp.elseBlock(), kMatMat}}) {
      rewriter.setInsertionPointToStart(block);
      Operation *copy = rewriter.clone(*op);
      copy->setAttr(marker, unit);
      scf::YieldOp::create(rewriter, loc, copy->getResults());
    }
    rewriter.replaceOp(op, ifOp.getResults());
    return success();
  }

  /// The matrix-vector product of a decode step: one row at a time, bound
  /// by reading the weights. K is outside N so that the weights stream row
  /// by row (KR rows at once), never down a column; K and N are peeled.
  LogicalResult tileMatVec(IRRewriter &rewriter, linalg::LinalgOp op) {
    // `mvTiles` register tiles at once: one 1 x NR tile is only NR/lanes
    // accumulators, i.e. as many FMA chains, too few to keep the weight
    // loads in flight. A packed weight gives them as mvTiles panels (the
    // outer N dim), an unpacked one as mvTiles * NR columns.
    Dims d = *contractionDims(op);
    int64_t tiles = std::max<int64_t>(1, mvTiles);
    // Panels: the largest count up to mvTiles that divides a static panel
    // count, so that no thread's chunk ends in a dynamic (scalar) remainder.
    if (d.outerN.size() == 1) {
      int64_t panels = op.getStaticLoopRanges()[d.outerN.front()];
      if (!ShapedType::isDynamic(panels) && panels > 0)
        while (panels % tiles)
          --tiles;
    }
    int64_t nOuter = d.outerN.empty() ? 1 : tiles;
    int64_t n = d.outerN.empty() ? nr * tiles : nr;
    if (threads) {
      // Threads share the columns: chunks of `ncThreads` weight columns
      // (packed: of `nOuter` panels).
      auto chunks = tile(rewriter, op, 0, std::max<int64_t>(ncThreads, n), 0,
                         false, /*forall=*/true, nOuter);
      if (failed(chunks))
        return failure();
      op = cast<linalg::LinalgOp>(chunks->op);
    }
    auto tiled = tile(rewriter, op, 1, n, kr, /*kBeforeN=*/true,
                      /*forall=*/false, nOuter);
    if (failed(tiled))
      return failure();
    UnitAttr unit = rewriter.getUnitAttr();
    tiled->op->setAttr(kMicroKernel, unit);
    // Loops: [batch...] M K N, the batch loops in d.batch's order; peel N,
    // K and the panel loop (a panel count that mvTiles does not divide).
    size_t numLoops = tiled->loops.size();
    SmallVector<LoopLikeOpInterface> toPeel{tiled->loops[numLoops - 1],
                                            tiled->loops[numLoops - 2]};
    for (unsigned dim : d.outerN) {
      auto pos = llvm::find(d.batch, dim) - d.batch.begin();
      if (nOuter > 1 && size_t(pos) < numLoops - 3)
        toPeel.push_back(tiled->loops[pos]);
    }
    for (LoopLikeOpInterface loop : toPeel)
      peel(rewriter, loop);
    return success();
  }

  /// A row block with a dynamic row count (the remainder, fewer than MR
  /// rows) becomes an scf.index_switch on that count with one static copy
  /// per count 1..MR-1 (operands cast to the static row count); any other
  /// count keeps the dynamic op (one row at a time).
  LogicalResult switchOnRemainderRows(IRRewriter &rewriter,
                                      linalg::LinalgOp op) {
    Dims d = *contractionDims(op);
    UnitAttr unit = rewriter.getUnitAttr();
    if (!ShapedType::isDynamic(op.getStaticLoopRanges()[d.m]) || mr <= 1) {
      op->setAttr(kRowBlock, unit);
      return success();
    }
    OpOperand *init = op.getDpsInitOperand(0);
    std::optional<unsigned> pos = op.getMatchingIndexingMap(init)
                                      .getResultPosition(
                                          rewriter.getAffineDimExpr(d.m));
    if (!pos)
      return op.emitOpError("has no result dim for its rows");
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value count = tensor::DimOp::create(rewriter, loc, init->get(), *pos);
    SmallVector<int64_t> cases;
    for (int64_t r = 1; r < mr; ++r)
      cases.push_back(r);
    auto sw = scf::IndexSwitchOp::create(rewriter, loc, op->getResultTypes(),
                                         count, cases, cases.size());
    AffineExpr rowsExpr = rewriter.getAffineDimExpr(d.m);
    auto fill = [&](Region &region, std::optional<int64_t> rows) {
      Block *block = rewriter.createBlock(&region);
      rewriter.setInsertionPointToStart(block);
      IRMapping map;
      if (rows) {
        // Operands indexed by the row dim get the static row count.
        for (OpOperand &operand : op->getOpOperands()) {
          auto type = dyn_cast<RankedTensorType>(operand.get().getType());
          if (!type)
            continue;
          SmallVector<int64_t> shape(type.getShape());
          AffineMap m = op.getMatchingIndexingMap(&operand);
          for (auto [i, e] : llvm::enumerate(m.getResults()))
            if (e == rowsExpr)
              shape[i] = *rows;
          if (shape == type.getShape())
            continue;
          map.map(operand.get(),
                  tensor::CastOp::create(rewriter, loc,
                                         type.clone(shape), operand.get()));
        }
      }
      Operation *copy = rewriter.clone(*op, map);
      copy->setAttr(kRowBlock, unit);
      SmallVector<Value> results;
      for (auto [value, type] :
           llvm::zip(copy->getResults(), op->getResultTypes())) {
        if (rows)
          value.setType(map.lookup(init->get()).getType());
        Value result = value;
        if (result.getType() != type)
          result = tensor::CastOp::create(rewriter, loc, type, result);
        results.push_back(result);
      }
      scf::YieldOp::create(rewriter, loc, results);
    };
    for (auto [i, r] : llvm::enumerate(cases))
      fill(sw.getCaseRegions()[i], r);
    fill(sw.getDefaultRegion(), std::nullopt);
    rewriter.replaceOp(op, sw.getResults());
    return success();
  }

  LogicalResult tileRegisters(IRRewriter &rewriter, linalg::LinalgOp op) {
    Dims d = *contractionDims(op);
    UnitAttr unit = rewriter.getUnitAttr();
    int64_t rows = op.getStaticLoopRanges()[d.m];
    // A full block, a static remainder (switched on its count), or
    // (dynamic: never taken) the rows one at a time: [rows x NR] tiles, K
    // innermost one step at a time, the accumulators in registers.
    // Loops: [batch...] M N (the output's fill, when it came this far, is
    // fused there: one tile of it per register tile), then K.
    auto tiled =
        tile(rewriter, op, ShapedType::isDynamic(rows) ? 1 : rows, nr, 0);
    if (failed(tiled))
      return failure();
    auto depth = tile(rewriter, cast<linalg::LinalgOp>(tiled->op), 0, 0, 1);
    if (failed(depth))
      return failure();
    depth->op->setAttr(kMicroKernel, unit);
    for (Operation *fill : tiled->fills)
      fill->setAttr(kMicroKernel, unit);
    // Peel N.
    peel(rewriter, tiled->loops.back());
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
      // An int8 weight's conversion (sitofp) moves before the broadcast, so
      // the broadcast folds into the contract and each weight converts once.
      vector::populateSinkVectorOpsPatterns(patterns);
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
