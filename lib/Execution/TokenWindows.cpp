//===- TokenWindows.cpp - Run a causal LM over windows of tokens ----------===//

#include "tailor/Execution/TokenWindows.h"
#include "tailor/Execution/HostTensor.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace mlir::tailor;

llvm::Expected<ResultPtr> mlir::tailor::runTokenWindows(tailor_model *model,
                                                        const int64_t *ids,
                                                        int64_t rows,
                                                        int64_t w,
                                                        llvm::ArrayRef<NamedInput> extra) {
  int32_t numInputs = tailor_model_num_inputs(model);
  std::vector<tailor_tensor> inputs(numInputs);
  std::vector<std::vector<int64_t>> shapes(numInputs);
  float dummy = 0;
  for (int32_t i = 0; i < numInputs; ++i) {
    tailor_tensor_info info;
    if (tailor_model_input_info(model, i, &info) != TAILOR_OK)
      return llvm::createStringError(tailor_last_error());
    auto named = std::find_if(extra.begin(), extra.end(), [&](auto &e) {
      return e.name == info.name;
    });
    if (named != extra.end()) {
      inputs[i] = named->tensor;
      continue;
    }
    if (i == 0) {
      if (info.dtype != TAILOR_INT64 || info.rank != 2)
        return llvm::createStringError(
            "input 0 must be int64 token ids [batch, sequence]");
      shapes[i] = {rows, w};
      inputs[i] = {TAILOR_INT64, 2, nullptr, nullptr,
                   const_cast<int64_t *>(ids)};
    } else {
      // An empty past: batch `rows`, the (dynamic) sequence dim 0.
      if (info.rank != 4)
        return llvm::createStringError(
            std::string("input ") + info.name +
            " is not a [batch, heads, past, dim] KV cache");
      shapes[i] = {rows, info.shape[1], 0, info.shape[3]};
      inputs[i] = {info.dtype, 4, nullptr, nullptr, &dummy};
    }
    inputs[i].shape = shapes[i].data();
  }
  tailor_result *result = nullptr;
  if (tailor_model_run(model, inputs.data(), numInputs, &result) != TAILOR_OK)
    return llvm::createStringError(tailor_last_error());
  return ResultPtr(result, tailor_result_free);
}

llvm::Expected<TokenWindowSet>
mlir::tailor::readTokenWindows(const std::string &path, int64_t window,
                               int64_t maxRows) {
  auto fail = [&](const std::string &what) {
    return llvm::createStringError(path + ": " + what);
  };
  llvm::Expected<HostTensor> tokens = readNpyFile(path);
  if (!tokens)
    return tokens.takeError();
  if (tokens->dtype != 7 /*int64*/)
    return fail("tokens must be int64, not " + dtypeName(tokens->dtype));
  const int64_t *ids = reinterpret_cast<const int64_t *>(tokens->data.data());
  TokenWindowSet set;
  int64_t stride;
  if (tokens->shape.size() == 2) {
    set.rows = tokens->shape[0];
    set.width = tokens->shape[1] - 1;
    stride = set.width + 1;
  } else if (tokens->shape.size() == 1) {
    set.width = window;
    set.rows = window > 0 ? (tokens->shape[0] - 1) / window : 0;
    stride = window;
  } else {
    return fail("expected [N, W+1] windows or [T] tokens");
  }
  if (set.rows <= 0 || set.width <= 0)
    return fail("not enough tokens for one window");
  if (maxRows > 0 && set.rows > maxRows)
    set.rows = maxRows;
  set.ids.resize(set.rows * (set.width + 1));
  for (int64_t r = 0; r < set.rows; ++r)
    std::copy(ids + r * stride, ids + r * stride + set.width + 1,
              set.ids.begin() + r * (set.width + 1));
  return set;
}

void mlir::tailor::logSoftmax(const float *x, int64_t n,
                              std::vector<double> &out) {
  out.resize(n);
  double m = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    m = std::max(m, double(x[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i)
    sum += std::exp(double(x[i]) - m);
  double lse = m + std::log(sum);
  for (int64_t i = 0; i < n; ++i)
    out[i] = double(x[i]) - lse;
}

double mlir::tailor::klDivergence(const double *logp, const double *logq,
                                  int64_t n) {
  double kl = 0;
  for (int64_t v = 0; v < n; ++v) {
    if (logp[v] == -INFINITY)
      continue; // p = 0 contributes nothing
    kl += std::exp(logp[v]) * (logp[v] - logq[v]); // +inf where q = 0 < p
  }
  return kl;
}

llvm::Expected<const float *>
mlir::tailor::windowLogits(const tailor_result *result, int64_t rows,
                           int64_t w, int64_t &vocab) {
  tailor_tensor logits;
  if (tailor_result_output(result, 0, &logits) != TAILOR_OK)
    return llvm::createStringError(tailor_last_error());
  if (logits.dtype != TAILOR_FLOAT32 || logits.rank != 3 ||
      logits.shape[0] != rows || logits.shape[1] != w)
    return llvm::createStringError("output 0 is not float32 logits [" +
                                   std::to_string(rows) + ", " +
                                   std::to_string(w) + ", vocab]");
  vocab = logits.shape[2];
  return static_cast<const float *>(logits.data);
}
