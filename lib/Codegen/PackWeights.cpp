//===- PackWeights.cpp - Constant matmul weights in column panels ---------===//
//
// y[M, N] = x[M, K] . W[K, N] with W constant and N = P * (N / P):
//   Wp[N/P, K, P] (Wp[b, k, j] = W[k, b*P + j], packed at compile time)
//   y3[M, N/P, P] = sum_k x[m, k] * Wp[b, k, j]
//   y = collapse_shape(y3)  (the same memory)
// The result is still a contraction (m; b, j; k) that the CPU strategy
// tiles: b is iterated like a batch dim, j is the register tile's NR.
// f32 and i8 (per-channel int8) weights; the i8 body converts to f32.

#include "tailor/Codegen/ConstantData.h"
#include "tailor/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORPACKWEIGHTS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;

namespace {
struct PackWeightsPass
    : mlir::tailor::impl::TailorPackWeightsBase<PackWeightsPass> {
  using TailorPackWeightsBase::TailorPackWeightsBase;

  void runOnOperation() override {
    if (panel < 1) {
      getOperation().emitError("tailor-pack-weights: panel must be >= 1");
      return signalPassFailure();
    }
    SmallVector<linalg::LinalgOp> products;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (linalg::isaContractionOpInterface(op))
        products.push_back(op);
    });
    DenseMap<Value, Value> packed;
    for (linalg::LinalgOp op : products)
      rewrite(op, packed);
  }

  /// The packed constant for `weight`, or null when it does not qualify.
  Value packedWeight(OpBuilder &b, Value weight, DenseMap<Value, Value> &cache) {
    if (Value done = cache.lookup(weight))
      return done;
    auto cst = weight.getDefiningOp<arith::ConstantOp>();
    auto type = dyn_cast<RankedTensorType>(weight.getType());
    if (!cst || !type || !type.hasStaticShape() || type.getRank() != 2 ||
        !(type.getElementType().isF32() || type.getElementType().isInteger(8)))
      return {};
    int64_t k = type.getDimSize(0), n = type.getDimSize(1);
    const int64_t elem = type.getElementType().getIntOrFloatBitWidth() / 8;
    if (n % panel || n == panel || k * n * elem < minBytes)
      return {};
    ArrayRef<char> raw = mlir::tailor::getRawConstantBytes(cst.getValue());
    if (raw.size() != size_t(k * n * elem))
      return {};
    int64_t blocks = n / panel;
    AsmResourceBlob blob = HeapAsmResourceBlob::allocate(raw.size(), 64);
    MutableArrayRef<char> out = blob.getMutableData();
    size_t row = size_t(panel * elem);
    for (int64_t blk = 0; blk < blocks; ++blk)
      for (int64_t kk = 0; kk < k; ++kk)
        std::memcpy(out.data() + ((blk * k + kk) * panel) * elem,
                    raw.data() + (kk * n + blk * panel) * elem, row);
    auto packedType =
        RankedTensorType::get({blocks, k, panel}, type.getElementType());
    auto attr = DenseResourceElementsAttr::get(packedType, "tailor_packed",
                                               std::move(blob));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointAfter(cst);
    Value result = arith::ConstantOp::create(b, cst.getLoc(), attr);
    cache[weight] = result;
    ++numPacked;
    numBytes += raw.size();
    return result;
  }

  /// Rewrites `op` when its second operand is a constant [K, N] read as
  /// (k, n), n being the output's last dim and K the only reduction.
  void rewrite(linalg::LinalgOp op, DenseMap<Value, Value> &cache) {
    if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1)
      return;
    auto dims = linalg::inferContractionDims(op);
    if (failed(dims) || dims->k.size() != 1 || dims->n.size() != 1)
      return;
    unsigned kDim = dims->k.front(), nDim = dims->n.front();
    OpOperand *lhs = op.getDpsInputOperand(0), *rhs = op.getDpsInputOperand(1);
    OpOperand *out = op.getDpsInitOperand(0);
    MLIRContext *ctx = op.getContext();
    AffineMap rhsMap = op.getMatchingIndexingMap(rhs);
    AffineMap outMap = op.getMatchingIndexingMap(out);
    if (rhsMap != AffineMap::get(op.getNumLoops(), 0,
                                 {getAffineDimExpr(kDim, ctx),
                                  getAffineDimExpr(nDim, ctx)},
                                 ctx) ||
        outMap.getNumResults() == 0 ||
        outMap.getResults().back() != getAffineDimExpr(nDim, ctx))
      return;
    Value init = out->get();
    auto initType = cast<RankedTensorType>(init.getType());
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    if (!resultType.getElementType().isF32() ||
        !cast<ShapedType>(lhs->get().getType()).getElementType().isF32())
      return;
    OpBuilder b(op);
    Value wp = packedWeight(b, rhs->get(), cache);
    if (!wp)
      return;
    Location loc = op.getLoc();
    int64_t rank = initType.getRank();
    int64_t blocks = initType.getDimSize(rank - 1) / panel;
    // The output with its last dim split: [..., N] -> [..., N/P, P].
    SmallVector<int64_t> shape3(initType.getShape());
    shape3.back() = blocks;
    shape3.push_back(panel);
    auto init3Type = RankedTensorType::get(shape3, initType.getElementType());
    SmallVector<ReassociationIndices> reassoc;
    for (int64_t i = 0; i + 1 < rank; ++i)
      reassoc.push_back({i});
    reassoc.push_back({rank - 1, rank});
    SmallVector<OpFoldResult> sizes3;
    for (int64_t i = 0; i + 1 < rank; ++i)
      sizes3.push_back(
          initType.isDynamicDim(i)
              ? OpFoldResult(tensor::DimOp::create(b, loc, init, i).getResult())
              : OpFoldResult(b.getIndexAttr(initType.getDimSize(i))));
    sizes3.push_back(b.getIndexAttr(blocks));
    sizes3.push_back(b.getIndexAttr(panel));
    Value init3 = tensor::ExpandShapeOp::create(b, loc, init3Type, init,
                                                reassoc, sizes3);
    // One more loop: n is now the panel index, the new last dim the column
    // inside the panel.
    unsigned numLoops = op.getNumLoops() + 1;
    AffineExpr nb = getAffineDimExpr(nDim, ctx),
               j = getAffineDimExpr(numLoops - 1, ctx),
               k = getAffineDimExpr(kDim, ctx);
    AffineMap lhsMap = op.getMatchingIndexingMap(lhs);
    lhsMap = AffineMap::get(numLoops, 0, lhsMap.getResults(), ctx);
    SmallVector<AffineExpr> outExprs(outMap.getResults());
    outExprs.push_back(j);
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    iterators.push_back(utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        b, loc, TypeRange{init3Type}, ValueRange{lhs->get(), wp},
        ValueRange{init3},
        ArrayRef<AffineMap>{lhsMap, AffineMap::get(numLoops, 0, {nb, k, j}, ctx),
                            AffineMap::get(numLoops, 0, outExprs, ctx)},
        iterators, [](OpBuilder &nb, Location l, ValueRange a) {
          Value w = a[1];
          if (isa<IntegerType>(w.getType())) // an int8 weight
            w = arith::SIToFPOp::create(nb, l, a[0].getType(), w);
          Value p = arith::MulFOp::create(nb, l, a[0], w);
          linalg::YieldOp::create(nb, l,
                                  arith::AddFOp::create(nb, l, a[2], p)
                                      .getResult());
        });
    for (NamedAttribute attr : op->getDiscardableAttrs())
      generic->setAttr(attr.getName(), attr.getValue());
    Value y = tensor::CollapseShapeOp::create(b, loc, resultType,
                                              generic.getResult(0), reassoc);
    op->getResult(0).replaceAllUsesWith(y);
    op->erase();
    ++numProducts;
  }
};
} // namespace
