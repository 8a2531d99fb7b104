//===- TokenWindows.cpp - Run a causal LM over windows of tokens ----------===//

#include "tailor/Execution/TokenWindows.h"

#include <string>
#include <vector>

using namespace mlir::tailor;

llvm::Expected<ResultPtr> mlir::tailor::runTokenWindows(tailor_model *model,
                                                        const int64_t *ids,
                                                        int64_t rows,
                                                        int64_t w) {
  int32_t numInputs = tailor_model_num_inputs(model);
  std::vector<tailor_tensor> inputs(numInputs);
  std::vector<std::vector<int64_t>> shapes(numInputs);
  float dummy = 0;
  for (int32_t i = 0; i < numInputs; ++i) {
    tailor_tensor_info info;
    if (tailor_model_input_info(model, i, &info) != TAILOR_OK)
      return llvm::createStringError(tailor_last_error());
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
