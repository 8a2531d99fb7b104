//===- KLBudget.h - Per-layer quantization within a KL budget ---*- C++ -*-===//
//
// tailor-compile --max-kl: measures, on calibration token windows, what
// quantizing each linear (alone) with each candidate setting costs in mean
// KL(fp32 || model) of the next-token distributions, then picks per linear
// the smallest setting such that the whole model stays within the budget,
// and checks the combination by measuring it.
//
// One "probe" model measures everything: beside each fp32 linear, every
// candidate's quantized copy sits in an scf.if on a run-time switch (an
// extra f32 input, one element per (linear, candidate)), so a single
// compilation serves every measurement and a run computes only the
// variants switched on.

#ifndef TAILOR_EXECUTION_KLBUDGET_H
#define TAILOR_EXECUTION_KLBUDGET_H

#include "tailor/Target/Target.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace mlir::tailor {

/// A setting a linear may take: its name ("int4", "int4-g64", "int8",
/// "w8a8") and the tailor-quantize run it stands for.
struct KLCandidate {
  std::string name;
  QuantizeStep step;
};

/// Parses a candidate name; int4 without "-gN" takes `groupSize`, and
/// `method` applies where it fits (gptq / awq: int4; smoothquant: w8a8),
/// `symmetric` to int4.
llvm::Expected<KLCandidate> parseKLCandidate(llvm::StringRef name,
                                             int64_t groupSize,
                                             llvm::StringRef method,
                                             bool symmetric = true);

struct KLBudgetOptions {
  double maxKL = 1e-3;
  std::vector<KLCandidate> candidates;
  std::string tokensPath; ///< calibration windows (.npy, as tailor-eval)
  int64_t windows = 16;   ///< at most this many windows
  int64_t batch = 8;      ///< windows per run
  int numThreads = 0;
};

/// One plan unit: the linears answering to one module name.
struct KLLayer {
  std::string name;
  int64_t k = 0, n = 0, count = 0;
  /// Per candidate: the measured mean KL with only this unit quantized
  /// (negative: the candidate does not apply, e.g. a group size not
  /// dividing K) and the weight bytes it takes.
  std::vector<double> kl, bytes;
  double f32Bytes = 0;
  int choice = -1; ///< index into the candidates; -1: stays f32
};

struct KLPlan {
  double maxKL = 0;
  std::vector<std::string> candidates;
  /// Each candidate's tailor-quantize setting (written to the plan file,
  /// so that --quantize-plan rebuilds what was measured).
  std::vector<QuantizeStep> settings;
  std::vector<KLLayer> layers;
  double estimatedKL = 0; ///< sum of the chosen units' own KL
  double measuredKL = 0;  ///< the chosen combination, measured
  double f32Bytes = 0, planBytes = 0;
  int64_t windows = 0, width = 0;
  /// The tailor-quantize runs that build the plan.
  std::vector<QuantizeStep> steps(llvm::ArrayRef<KLCandidate> candidates) const;
  llvm::json::Value toJSON() const;
  /// A table: unit, shape, each candidate's KL, the choice; then totals.
  void print(llvm::raw_ostream &os) const;
};

/// Measures and plans on `raised` (a module after the raise phase; it is
/// not changed). `options` supplies the LoRA adapters (merged first), the
/// quantization exclusions, symmetry and calibration statistics, and the
/// target. Progress goes to `log`.
FailureOr<KLPlan> planForKLBudget(ModuleOp raised,
                                  const CompileOptions &options,
                                  const KLBudgetOptions &budget,
                                  llvm::raw_ostream &log);

/// Reads a plan written by KLPlan::toJSON (tailor-compile --plan-out) and
/// returns its tailor-quantize runs, with the settings the plan records
/// for its candidates (a hand-written plan without "settings": the
/// candidate names parsed with `groupSize` and `method`).
llvm::Expected<std::vector<QuantizeStep>>
readQuantizePlan(const std::string &path, int64_t groupSize,
                 llvm::StringRef method, bool symmetric = true);

} // namespace mlir::tailor

#endif // TAILOR_EXECUTION_KLBUDGET_H
