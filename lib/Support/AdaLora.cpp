//===- AdaLora.cpp - AdaLoRA's rank allocation ----------------------------===//
//
// PEFT's RankAllocator (tuners/adalora/layer.py) and the step logic of
// AdaLoraModel.update_and_allocate (tuners/adalora/model.py), in float32
// as PyTorch computes them.

#include "tailor/Support/AdaLora.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>
#include <cmath>

using namespace mlir::tailor::adalora;

llvm::Error mlir::tailor::adalora::validate(const Config &c) {
  auto error = [](const llvm::Twine &m) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "AdaLoRA: " + m);
  };
  if (c.initR < 1 || c.targetR < 0 || c.targetR > c.initR)
    return error("the initial rank must be at least 1 and the target rank "
                 "in [0, the initial rank] (got " +
                 llvm::Twine(c.initR) + " and " + llvm::Twine(c.targetR) +
                 ")");
  if (c.totalStep <= 0)
    return error("total_step must be > 0");
  if (c.tinit < 0 || c.tfinal < 0 || c.deltaT < 1)
    return error("tinit and tfinal must not be negative and deltaT at "
                 "least 1");
  if (c.tinit >= c.totalStep - c.tfinal)
    return error("the schedule leaves no budgeting phase (tinit " +
                 llvm::Twine(c.tinit) + " >= total_step " +
                 llvm::Twine(c.totalStep) + " - tfinal " +
                 llvm::Twine(c.tfinal) +
                 "): decrease tinit / tfinal or train longer");
  if (!(c.beta1 > 0 && c.beta1 < 1) || !(c.beta2 > 0 && c.beta2 < 1))
    return error("beta1 and beta2 must lie in (0, 1)");
  return llvm::Error::success();
}

RankAllocator::RankAllocator(Config config, std::vector<Matrix> matrices)
    : config(config), mats(std::move(matrices)) {
  resetImportance();
}

void RankAllocator::resetImportance() {
  for (int t = 0; t < 3; ++t) {
    ipt[t].assign(mats.size(), {});
    unc[t].assign(mats.size(), {});
  }
  for (size_t m = 0; m < mats.size(); ++m) {
    int64_t r = config.initR;
    int64_t sizes[3] = {r * mats[m].in, r, mats[m].out * r};
    for (int t = 0; t < 3; ++t) {
      ipt[t][m].assign(sizes[t], 0.0f);
      unc[t][m].assign(sizes[t], 0.0f);
    }
  }
}

std::pair<int64_t, bool> RankAllocator::schedule(int64_t step) const {
  int64_t init = initialBudget(), target = targetBudget();
  if (step <= config.tinit)
    return {init, false};
  if (step > config.totalStep - config.tfinal)
    return {target, true};
  double mul = 1.0 - double(step - config.tinit) /
                         double(config.totalStep - config.tfinal - config.tinit);
  int64_t budget = int64_t(double(init - target) * (mul * mul * mul) +
                           double(target));
  return {budget, step % config.deltaT == 0};
}

void RankAllocator::updateImportance(llvm::ArrayRef<Tensors> tensors) {
  float b1 = float(config.beta1), b2 = float(config.beta2);
  for (size_t m = 0; m < mats.size(); ++m) {
    const float *params[3] = {tensors[m].a, tensors[m].e, tensors[m].b};
    const float *grads[3] = {tensors[m].gradA, tensors[m].gradE,
                             tensors[m].gradB};
    for (int t = 0; t < 3; ++t) {
      std::vector<float> &avg = ipt[t][m], &u = unc[t][m];
      for (size_t i = 0; i < avg.size(); ++i) {
        float now = std::fabs(params[t][i] * grads[t][i]);
        avg[i] = b1 * avg[i] + (1 - b1) * now;
        u[i] = b2 * u[i] + (1 - b2) * std::fabs(now - avg[i]);
      }
    }
  }
}

void RankAllocator::maskToBudget(int64_t budget,
                                 llvm::ArrayRef<Tensors> tensors) {
  int64_t r = config.initR;
  // Each rank slot's triplet score: S(E_i) + mean_j S(A_ij) + mean_j
  // S(B_ji), S = sensitivity * uncertainty.
  std::vector<std::vector<float>> triplet(mats.size());
  std::vector<float> all;
  for (size_t m = 0; m < mats.size(); ++m) {
    int64_t in = mats[m].in, out = mats[m].out;
    auto score = [&](int t, int64_t i) { return ipt[t][m][i] * unc[t][m][i]; };
    triplet[m].resize(r);
    for (int64_t i = 0; i < r; ++i) {
      double a = 0, b = 0;
      for (int64_t j = 0; j < in; ++j)
        a += score(0, i * in + j);
      for (int64_t j = 0; j < out; ++j)
        b += score(2, j * r + i);
      triplet[m][i] = score(1, i) + (float(a / in) + float(b / out));
      all.push_back(triplet[m][i]);
    }
  }
  // torch.kthvalue(k = init - budget): the k-th smallest; every slot at
  // or below it is masked. (PEFT fails at k = 0; nothing is masked.)
  int64_t k = initialBudget() - budget;
  float threshold = -INFINITY;
  if (k > 0 && !all.empty()) {
    k = std::min<int64_t>(k, all.size());
    std::nth_element(all.begin(), all.begin() + (k - 1), all.end());
    threshold = all[k - 1];
  }
  pattern.assign(mats.size(), {});
  for (size_t m = 0; m < mats.size(); ++m) {
    pattern[m].resize(r);
    for (int64_t i = 0; i < r; ++i) {
      bool keep = !(triplet[m][i] <= threshold);
      pattern[m][i] = keep;
      if (!keep)
        tensors[m].e[i] = 0.0f;
    }
  }
}

int64_t RankAllocator::update(int64_t step, llvm::ArrayRef<Tensors> tensors) {
  int64_t fixed = config.totalStep - config.tfinal;
  if (step < fixed) {
    updateImportance(tensors);
    auto [budget, mask] = schedule(step);
    if (mask)
      maskToBudget(budget, tensors);
    return budget;
  }
  if (step == fixed) {
    // The final allocation: the target budget, then the pattern stays.
    maskToBudget(schedule(step).first, tensors);
    resetImportance();
    return schedule(step).first;
  }
  for (size_t m = 0; m < mats.size() && m < pattern.size(); ++m)
    for (int64_t i = 0; i < config.initR; ++i)
      if (!pattern[m][i])
        tensors[m].e[i] = 0.0f;
  return targetBudget();
}

std::vector<std::pair<std::string, std::vector<float> *>>
RankAllocator::state() {
  static const char *tensorNames[3] = {"lora_A", "lora_E", "lora_B"};
  std::vector<std::pair<std::string, std::vector<float> *>> out;
  for (size_t m = 0; m < mats.size(); ++m)
    for (int t = 0; t < 3; ++t) {
      std::string suffix = mats[m].module + "." + tensorNames[t];
      out.push_back({"adalora.exp_avg_ipt." + suffix, &ipt[t][m]});
      out.push_back({"adalora.exp_avg_unc." + suffix, &unc[t][m]});
    }
  return out;
}

std::string mlir::tailor::adalora::rankPatternJson(
    const std::vector<std::vector<bool>> &pattern) {
  llvm::json::Array out;
  for (const std::vector<bool> &m : pattern) {
    llvm::json::Array keep;
    for (bool k : m)
      keep.push_back(int64_t(k));
    out.push_back(std::move(keep));
  }
  return llvm::formatv("{0}", llvm::json::Value(std::move(out))).str();
}

llvm::Expected<std::vector<std::vector<bool>>>
mlir::tailor::adalora::parseRankPattern(llvm::StringRef json, size_t matrices,
                                        int64_t rank) {
  auto bad = [&](const llvm::Twine &why) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "bad AdaLoRA rank pattern: " + why);
  };
  auto value = llvm::json::parse(json);
  if (!value)
    return bad(llvm::toString(value.takeError()));
  const llvm::json::Array *list = value->getAsArray();
  if (!list || list->size() != matrices)
    return bad("not an array of " + llvm::Twine(matrices) + " matrices");
  std::vector<std::vector<bool>> pattern;
  for (const llvm::json::Value &m : *list) {
    const llvm::json::Array *keep = m.getAsArray();
    if (!keep || int64_t(keep->size()) != rank)
      return bad("a matrix without " + llvm::Twine(rank) + " entries");
    std::vector<bool> row;
    for (const llvm::json::Value &k : *keep) {
      std::optional<int64_t> v = k.getAsInteger();
      if (!v || (*v != 0 && *v != 1))
        return bad("an entry that is not 0 or 1");
      row.push_back(*v == 1);
    }
    pattern.push_back(std::move(row));
  }
  return pattern;
}
