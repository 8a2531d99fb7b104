//===- Weights.h - Model weights kept out of the generated code -----------===//
//
// A 100M-parameter model carries 400+ MB of constants. Translated into LLVM
// IR initializers they dominate compile time and memory; instead, after
// lowering to the LLVM dialect, every large constant global becomes an
// external declaration and its bytes are handed to the caller: the JIT
// binds them to memory it owns, the AOT writer puts them in a read-only
// data blob of the artifact.

#ifndef TAILOR_TARGET_WEIGHTS_H
#define TAILOR_TARGET_WEIGHTS_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::tailor {

/// One constant moved out of the module.
struct ExternalWeight {
  std::string symbol;
  /// The raw little-endian bytes, as the global's initializer held them
  /// (they live as long as the module's context).
  ArrayRef<char> data;
  uint64_t alignment = 64;
};

/// Turns every `llvm.mlir.global` constant whose initializer holds at least
/// `minBytes` of dense data into an external declaration and returns the
/// data. Globals it cannot read raw bytes from (splats, i1) stay as they are.
std::vector<ExternalWeight> externalizeLargeGlobals(ModuleOp module,
                                                    size_t minBytes = 4096);

/// Marks every defined function that is not an outlined kernel
/// (`tailor.kernel`) `optnone noinline`: the model's entry is glue (shape
/// arithmetic, allocations, one call per kernel) that LLVM's optimizer
/// would spend most of the compile time on for no measurable gain.
void markGlueCode(ModuleOp module);

} // namespace mlir::tailor

#endif // TAILOR_TARGET_WEIGHTS_H
