//===- DropKVCacheResults.cpp - In-place caches leave the results ---------===//
//
// tailor-kv-cache-in-place returns each updated cache as output i of the
// entry. Bufferized in place, that output is argument i's buffer; upstream's
// drop-equivalent-buffer-results only rewrites private functions, so the
// entry's cache outputs are dropped here (the runtime's calling convention,
// tailor-c/abi.h). One that is not its argument's buffer means
// bufferization copied the cache: an error, not a model that would leave
// the caller's cache stale.

#include "tailor/Transforms/KVCache.h"
#include "tailor/Transforms/Passes.h"

#include "llvm/ADT/BitVector.h"

namespace mlir::tailor {
#define GEN_PASS_DEF_TAILORDROPKVCACHERESULTS
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

using namespace mlir;
using namespace mlir::tailor;

namespace {
struct DropKVCacheResultsPass
    : mlir::tailor::impl::TailorDropKVCacheResultsBase<
          DropKVCacheResultsPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      auto caches = fn->getAttrOfType<IntegerAttr>(kKVCachesAttr);
      auto results = fn->getAttrOfType<IntegerAttr>(kKVResultsAttr);
      if (!caches || !results || fn.isExternal())
        continue;
      int64_t n = caches.getInt();
      if (int64_t(fn.getNumResults()) == results.getInt())
        continue; // dropped already
      auto ret = dyn_cast<func::ReturnOp>(fn.front().getTerminator());
      if (!fn.getBody().hasOneBlock() || !ret ||
          int64_t(fn.getNumResults()) != results.getInt() + n ||
          int64_t(fn.getNumArguments()) < n + 1) {
        fn.emitError() << "@" << fn.getName()
                       << ": not the form tailor-kv-cache-in-place made ("
                       << n << " caches)";
        return signalPassFailure();
      }
      int64_t copied = 0;
      for (int64_t i = 1; i <= n; ++i) {
        Value v = ret.getOperand(i);
        while (auto cast = v.getDefiningOp<memref::CastOp>())
          v = cast.getSource();
        copied += v != fn.getArgument(i);
      }
      if (copied) {
        fn.emitError() << "@" << fn.getName() << ": " << copied << " of its "
                       << n
                       << " KV caches could not be updated in place "
                          "(bufferization copied them); compile with "
                          "--kv-cache=concat";
        return signalPassFailure();
      }
      llvm::BitVector drop(fn.getNumResults());
      drop.set(1, n + 1);
      SmallVector<Value> kept;
      for (auto [i, v] : llvm::enumerate(ret.getOperands()))
        if (!drop.test(i))
          kept.push_back(v);
      if (failed(fn.eraseResults(drop)))
        return signalPassFailure();
      ret.getOperandsMutable().assign(kept);
    }
  }
};
} // namespace
