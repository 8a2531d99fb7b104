//===- KVCacheInPlace.cpp - Append to the KV cache instead of copying it --===//
//
// An exported decoder step returns present = Concat(past, new) for every
// layer's keys and values: each step copies the whole cache into a new
// buffer, which at a few hundred positions costs as much as a tenth of a
// quantized model's decode step. This pass gives the entry function
// capacity-backed cache inputs and a length: the new positions are
// inserted in place and the attention reads a view of the valid prefix.
// See Passes.td for the form it matches.

#include "tailor/Transforms/KVCache.h"
#include "tailor/Transforms/Entry.h"
#include "tailor/Transforms/Passes.h"

#include "llvm/ADT/SmallPtrSet.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORKVCACHEINPLACE
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

SmallVector<KVCacheUse> mlir::tailor::findInPlaceCaches(func::FuncOp fn) {
  if (fn.isExternal() || !fn.getBody().hasOneBlock())
    return {};
  unsigned n = fn.getNumArguments();
  if (n < 2 || fn.getNumResults() != n)
    return {};
  auto ids = dyn_cast<RankedTensorType>(fn.getArgument(0).getType());
  if (!ids || ids.getRank() != 2 || !ids.getElementType().isSignlessInteger(64))
    return {};
  auto ret = dyn_cast<func::ReturnOp>(fn.front().getTerminator());
  if (!ret)
    return {};
  SmallVector<KVCacheUse> found;
  for (unsigned i = 1; i < n; ++i) {
    BlockArgument arg = fn.getArgument(i);
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type || type.getRank() != 4 || !isa<FloatType>(type.getElementType()) ||
        type.isDynamicDim(1) || type.isDynamicDim(3) || !type.isDynamicDim(2))
      return {};
    OnnxConcatOp concat;
    for (Operation *user : arg.getUsers()) {
      auto c = dyn_cast<OnnxConcatOp>(user);
      if (!c || c->getNumOperands() != 2 || c->getOperand(0) != arg ||
          (c.getAxis() != 2 && c.getAxis() != -2))
        continue;
      if (concat)
        return {}; // two appends to one cache
      concat = c;
    }
    if (!concat || concat->getBlock() != &fn.front())
      return {};
    auto fresh = dyn_cast<RankedTensorType>(concat->getOperand(1).getType());
    auto joined = dyn_cast<RankedTensorType>(concat->getResult(0).getType());
    if (!fresh || !joined || fresh.getRank() != 4 || joined.getRank() != 4 ||
        fresh.getElementType() != type.getElementType() ||
        joined.getElementType() != type.getElementType())
      return {};
    for (int64_t d : {1, 3})
      if ((!fresh.isDynamicDim(d) && fresh.getDimSize(d) != type.getDimSize(d)) ||
          (!joined.isDynamicDim(d) && joined.getDimSize(d) != type.getDimSize(d)))
        return {};
    if (!joined.isDynamicDim(0) && !type.isDynamicDim(0) &&
        joined.getDimSize(0) != type.getDimSize(0))
      return {};
    // Returned as output i, and as no other output.
    Value result = concat->getResult(0);
    for (unsigned j = 0; j < n; ++j)
      if ((ret.getOperand(j) == result) != (j == i))
        return {};
    found.push_back({i, concat});
  }
  return found;
}

namespace {
struct KVCacheInPlacePass
    : mlir::tailor::impl::TailorKVCacheInPlaceBase<KVCacheInPlacePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp fn = findEntry(module);
    if (!fn || fn->hasAttr(kKVCachesAttr))
      return;
    SmallVector<KVCacheUse> caches = findInPlaceCaches(fn);
    if (caches.empty())
      return;
    MLIRContext *ctx = &getContext();
    Location loc = fn.getLoc();
    unsigned lengthIndex = fn.getNumArguments();
    auto lengthType = RankedTensorType::get({}, IntegerType::get(ctx, 64));
    auto lengthAttrs = DictionaryAttr::get(
        ctx, {NamedAttribute(StringAttr::get(ctx, "onnx.name"),
                             StringAttr::get(ctx, kCacheLengthName))});
    if (failed(fn.insertArgument(lengthIndex, lengthType, lengthAttrs, loc)))
      return signalPassFailure();

    OpBuilder b = OpBuilder::atBlockBegin(&fn.front());
    auto index = [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); };
    auto check = [&](arith::CmpIPredicate pred, Value lhs, Value rhs,
                     const Twine &message) {
      Value ok = arith::CmpIOp::create(b, loc, pred, lhs, rhs);
      cf::AssertOp::create(b, loc, ok, message.str());
    };
    Value length = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        tensor::ExtractOp::create(b, loc, fn.getArgument(lengthIndex),
                                  ValueRange{}));
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    check(arith::CmpIPredicate::sge, length, zero,
          "the KV cache length is negative");
    Value tokens = tensor::DimOp::create(b, loc, fn.getArgument(0), 1);
    SmallVector<OpFoldResult> zeros(4, index(0)), ones(4, index(1));
    auto ret = cast<func::ReturnOp>(fn.front().getTerminator());
    SmallVector<Type> resultTypes(fn.getResultTypes());

    for (auto [i, concatOp] : caches) {
      BlockArgument cache = fn.getArgument(i);
      auto type = cast<RankedTensorType>(cache.getType());
      std::string what =
          ("KV cache input " + Twine(i) + " ('" +
           (fn.getArgAttrOfType<StringAttr>(i, "onnx.name")
                ? fn.getArgAttrOfType<StringAttr>(i, "onnx.name").getValue()
                : StringRef("?")) +
           "')")
              .str();
      // Everything but the Concat sees the valid prefix [B, H, length, D].
      llvm::SmallPtrSet<Operation *, 4> mine;
      SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, cache);
      for (OpFoldResult s : sizes)
        if (auto v = dyn_cast<Value>(s))
          mine.insert(v.getDefiningOp());
      Value capacity = getValueOrCreateConstantIndexOp(b, loc, sizes[2]);
      mine.insert(capacity.getDefiningOp());
      // Before anything reads the valid prefix.
      {
        Value fits = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                                           length, capacity);
        mine.insert(fits.getDefiningOp());
        mine.insert(cf::AssertOp::create(
            b, loc, fits, what + " holds fewer positions than the cache length"));
      }
      auto others = [&](OpOperand &use) {
        return !mine.contains(use.getOwner()) && use.getOwner() != concatOp;
      };
      if (llvm::any_of(cache.getUses(), others)) {
        SmallVector<OpFoldResult> pastSizes = sizes;
        pastSizes[2] = length;
        auto past = tensor::ExtractSliceOp::create(b, loc, type, cache, zeros,
                                                   pastSizes, ones);
        mine.insert(past);
        cache.replaceUsesWithIf(past, others);
      }

      // At the Concat: insert the new positions, read the joined prefix.
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(concatOp);
      Value fresh = concatOp->getOperand(1);
      // Dynamic head or feature sizes of the new positions must be the
      // cache's (static) ones.
      auto freshType = cast<RankedTensorType>(fresh.getType());
      for (int64_t d : {1, 3})
        if (freshType.isDynamicDim(d))
          check(arith::CmpIPredicate::eq,
                tensor::DimOp::create(b, loc, fresh, d),
                arith::ConstantIndexOp::create(b, loc, type.getDimSize(d)),
                what + " and the new keys/values differ in " +
                    (d == 1 ? "head count" : "head size"));
      SmallVector<int64_t> sliceShape(type.getShape());
      sliceShape[2] = ShapedType::kDynamic;
      auto sliceType = RankedTensorType::get(sliceShape, type.getElementType());
      if (fresh.getType() != sliceType)
        fresh = tensor::CastOp::create(b, loc, sliceType, fresh);
      Value count = tensor::DimOp::create(b, loc, fresh, 2);
      check(arith::CmpIPredicate::eq, count, tokens,
            what + " grows by a different count of positions than the "
                   "token count (is the context longer than the model's "
                   "position tables?)");
      check(arith::CmpIPredicate::eq, tensor::DimOp::create(b, loc, fresh, 0),
            getValueOrCreateConstantIndexOp(b, loc, sizes[0]),
            what + " and the new keys/values differ in batch size");
      Value end = arith::AddIOp::create(b, loc, length, count);
      check(arith::CmpIPredicate::ule, end, capacity,
            what + " is too small for the cache length plus the new "
                   "positions");
      SmallVector<OpFoldResult> at = zeros;
      at[2] = length;
      SmallVector<OpFoldResult> freshSizes = sizes;
      freshSizes[2] = count;
      Value updated = tensor::InsertSliceOp::create(b, loc, fresh, cache, at,
                                                    freshSizes, ones);
      SmallVector<OpFoldResult> joinedSizes = sizes;
      joinedSizes[2] = end;
      Value joined = tensor::ExtractSliceOp::create(b, loc, type, updated,
                                                    zeros, joinedSizes, ones);
      Type concatType = concatOp->getResult(0).getType();
      if (joined.getType() != concatType)
        joined = tensor::CastOp::create(b, loc, concatType, joined);
      concatOp->getResult(0).replaceUsesWithIf(joined, [&](OpOperand &use) {
        return use.getOwner() != ret;
      });
      ret->setOperand(i, updated);
      resultTypes[i] = type;
      concatOp->erase();
      ++numCaches;
    }
    fn.setType(FunctionType::get(ctx, fn.getArgumentTypes(), resultTypes));
    Builder attrs(ctx);
    fn->setAttr(kKVCachesAttr, attrs.getI64IntegerAttr(caches.size()));
    fn->setAttr(kKVResultsAttr, attrs.getI64IntegerAttr(
                                    resultTypes.size() - caches.size()));
  }
};
} // namespace
