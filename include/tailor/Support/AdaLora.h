//===- AdaLora.h - AdaLoRA's rank allocation -------------------*- C++ -*-===//
//
// The host side of AdaLoRA (arXiv 2303.10512) as Hugging Face PEFT's
// RankAllocator computes it (tuners/adalora/layer.py): after each optimizer
// step, the importance |theta * grad| of every entry of the adapted
// matrices' P (lora_B), Lambda (lora_E) and Q (lora_A) is smoothed
// (sensitivity EMA) and its deviation from that smoothing tracked
// (uncertainty EMA); on masking steps the singular values (E) of the
// lowest-scoring triplets are zeroed so that the total rank follows the
// cubic budget schedule from the initial to the target budget.
//
// tailor-peft method=adalora builds the forward (and the orthogonality
// regulariser); tailor-train calls RankAllocator::update after each step.

#ifndef TAILOR_SUPPORT_ADALORA_H
#define TAILOR_SUPPORT_ADALORA_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mlir::tailor::adalora {

/// PEFT's AdaLoraConfig fields (and its defaults).
struct Config {
  int64_t initR = 12, targetR = 8;
  int64_t tinit = 0, tfinal = 0, deltaT = 1;
  /// PEFT requires it: the number of optimizer steps of the run.
  int64_t totalStep = 0;
  double beta1 = 0.85, beta2 = 0.85;
};

/// Checks a configuration as PEFT's AdaLoraConfig does (and the ranks).
llvm::Error validate(const Config &config);

/// One adapted linear: lora_A [rank, in], lora_E [rank, 1], lora_B [out,
/// rank] (row-major float32).
struct Matrix {
  std::string module;
  int64_t in = 0, out = 0;
};

/// The tensors of one matrix at an update: the parameters after the
/// optimizer step (E is masked in place) and the gradients the step used.
struct Tensors {
  float *a = nullptr, *e = nullptr, *b = nullptr;
  const float *gradA = nullptr, *gradE = nullptr, *gradB = nullptr;
};

class RankAllocator {
public:
  RankAllocator(Config config, std::vector<Matrix> matrices);

  /// PEFT's budget_schedule at (0-based) step `step`: the total rank and
  /// whether this step masks.
  std::pair<int64_t, bool> schedule(int64_t step) const;

  /// AdaLoraModel.update_and_allocate(step) after optimizer step `step`
  /// (0-based): updates the importance (before total - tfinal), masks to
  /// the budget on masking steps (at total - tfinal to the target budget,
  /// fixing the rank pattern), after it masks with the fixed pattern.
  /// `tensors` in the order of the matrices. Returns the budget.
  int64_t update(int64_t step, llvm::ArrayRef<Tensors> tensors);

  /// The kept rank slots of each matrix from the last masking (empty
  /// before any).
  const std::vector<std::vector<bool>> &rankPattern() const {
    return pattern;
  }
  void setRankPattern(std::vector<std::vector<bool>> p) {
    pattern = std::move(p);
  }

  /// The smoothed importance state, by name
  /// ("adalora.exp_avg_ipt.<module>.lora_A", "...exp_avg_unc...", for A,
  /// E and B): what a checkpoint saves.
  std::vector<std::pair<std::string, std::vector<float> *>> state();

  const std::vector<Matrix> &matrices() const { return mats; }
  int64_t initialRank() const { return config.initR; }
  int64_t initialBudget() const { return config.initR * int64_t(mats.size()); }
  int64_t targetBudget() const {
    return config.targetR * int64_t(mats.size());
  }

private:
  void updateImportance(llvm::ArrayRef<Tensors> tensors);
  void maskToBudget(int64_t budget, llvm::ArrayRef<Tensors> tensors);
  void resetImportance();

  Config config;
  std::vector<Matrix> mats;
  /// Per matrix, per tensor (0 A, 1 E, 2 B): the EMAs.
  std::vector<std::vector<float>> ipt[3], unc[3];
  std::vector<std::vector<bool>> pattern;
};

/// A rank pattern as JSON (an array per matrix of 0 / 1: a checkpoint's
/// metadata) and back; parsing checks the counts.
std::string rankPatternJson(const std::vector<std::vector<bool>> &pattern);
llvm::Expected<std::vector<std::vector<bool>>>
parseRankPattern(llvm::StringRef json, size_t matrices, int64_t rank);

} // namespace mlir::tailor::adalora

#endif // TAILOR_SUPPORT_ADALORA_H
