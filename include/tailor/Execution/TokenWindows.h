//===- TokenWindows.h - Run a causal LM over windows of tokens --*- C++ -*-===//
//
// Tools that evaluate or calibrate a causal LM (tailor-eval,
// tailor-calibrate) run it on a batch of token windows with an empty KV
// cache: input 0 the int64 ids [rows, W], every other input a past
// [rows, heads, 0, dim].

#ifndef TAILOR_EXECUTION_TOKENWINDOWS_H
#define TAILOR_EXECUTION_TOKENWINDOWS_H

#include "tailor-c/tailor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir::tailor {

using ResultPtr = std::unique_ptr<tailor_result, void (*)(tailor_result *)>;

/// Token windows for evaluation or calibration: `rows` rows of `width` + 1
/// tokens (row-major in `ids`); tokens 0..width-1 of a row are the input,
/// 1..width the next-token targets.
struct TokenWindowSet {
  std::vector<int64_t> ids;
  int64_t rows = 0, width = 0;
  const int64_t *row(int64_t r) const { return ids.data() + r * (width + 1); }
};

/// Reads an int64 .npy of windows [N, W+1], or of tokens [T] cut into
/// consecutive windows of `window` (+1 overlapping target); at most
/// `maxRows` rows (0: all). Errors name the file.
llvm::Expected<TokenWindowSet> readTokenWindows(const std::string &path,
                                                int64_t window,
                                                int64_t maxRows);

/// An input fed by name rather than as an empty KV cache.
struct NamedInput {
  std::string name;
  tailor_tensor tensor;
};

/// Runs `model` on `rows` windows of `w` tokens (`ids`, row-major); the
/// inputs named in `extra` take those tensors.
llvm::Expected<ResultPtr>
runTokenWindows(tailor_model *model, const int64_t *ids, int64_t rows,
                int64_t w, llvm::ArrayRef<NamedInput> extra = {});

/// Output 0 of a runTokenWindows result as float32 logits [rows, w, vocab]
/// (sets `vocab`); an error naming what it is otherwise.
llvm::Expected<const float *> windowLogits(const tailor_result *result,
                                           int64_t rows, int64_t w,
                                           int64_t &vocab);

/// log_softmax of the `n` logits `x`, in double.
void logSoftmax(const float *x, int64_t n, std::vector<double> &out);

/// KL(p || q) = sum_v p_v (log p_v - log q_v) from log-probabilities
/// (terms with p_v = 0 are 0; +inf where q_v = 0 < p_v; NaN logits give
/// NaN).
double klDivergence(const double *logp, const double *logq, int64_t n);

} // namespace mlir::tailor

#endif // TAILOR_EXECUTION_TOKENWINDOWS_H
