//===- TokenWindows.h - Run a causal LM over windows of tokens --*- C++ -*-===//
//
// Tools that evaluate or calibrate a causal LM (tailor-eval,
// tailor-calibrate) run it on a batch of token windows with an empty KV
// cache: input 0 the int64 ids [rows, W], every other input a past
// [rows, heads, 0, dim].

#ifndef TAILOR_EXECUTION_TOKENWINDOWS_H
#define TAILOR_EXECUTION_TOKENWINDOWS_H

#include "tailor-c/tailor.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>

namespace mlir::tailor {

using ResultPtr = std::unique_ptr<tailor_result, void (*)(tailor_result *)>;

/// Runs `model` on `rows` windows of `w` tokens (`ids`, row-major).
llvm::Expected<ResultPtr> runTokenWindows(tailor_model *model,
                                          const int64_t *ids, int64_t rows,
                                          int64_t w);

} // namespace mlir::tailor

#endif // TAILOR_EXECUTION_TOKENWINDOWS_H
