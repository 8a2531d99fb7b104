//===- KVCache.h - The in-place KV cache form ------------------*- C++ -*-===//
//
// What tailor-kv-cache-in-place rewrites and how the runtime recognises the
// result: inputs 1..N are caches with room for more positions, the last
// input (kCacheLengthName, int64 scalar) is the count of valid positions,
// and the entry carries kKVCachesAttr = N.

#ifndef TAILOR_TRANSFORMS_KVCACHE_H
#define TAILOR_TRANSFORMS_KVCACHE_H

#include "tailor/Dialect/Tailor.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

namespace mlir::tailor {

inline constexpr llvm::StringLiteral kCacheLengthName = "tailor.cache_length";
inline constexpr llvm::StringLiteral kKVCachesAttr = "tailor.kv_caches";
/// The entry's result count once bufferization dropped the cache results.
inline constexpr llvm::StringLiteral kKVResultsAttr = "tailor.kv_results";

/// Input i (1..N) of the entry, the Concat that appends the new positions
/// to it, and the output (also i) that returns the result.
struct KVCacheUse {
  unsigned index;
  Operation *concat;
};

/// The caches of `fn` in the form tailor-kv-cache-in-place rewrites: input
/// 0 rank-2 integer token ids; inputs 1..N (all the others) rank-4 float
/// [B, H, T, D] with static H and D, each the first of the two operands of
/// one Concat along axis 2 whose result is output i (outputs 1..N, output 0
/// something else). Empty when `fn` has any other form.
llvm::SmallVector<KVCacheUse> findInPlaceCaches(func::FuncOp fn);

} // namespace mlir::tailor

#endif // TAILOR_TRANSFORMS_KVCACHE_H
