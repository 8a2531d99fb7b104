//===- Target.h - Code generation targets ---------------------------------===//
//
// Every target (CPU now; CUDA and Metal next) takes the same input: a module
// in the tailor dialect after import/raise. The front half of the compiler
// never looks at the target; a target owns the pipeline from the tailor
// dialect to its own lowest level (LLVM dialect for CPU).

#ifndef TAILOR_TARGET_TARGET_H
#define TAILOR_TARGET_TARGET_H

#include "mlir/Pass/PassManager.h"

#include <memory>
#include <string>

namespace mlir::tailor {

/// Where a compilation stops (as IREE's --compile-to).
enum class CompilePhase { Import, Raise, Optimize, Linalg, LLVM };

struct TargetOptions {
  /// Optimisation level 0-3; 0 keeps loops naive (debugging).
  unsigned optLevel = 2;
  /// Target CPU name for LLVM ("host" = this machine).
  std::string cpu = "host";
};

class Target {
public:
  virtual ~Target() = default;
  virtual llvm::StringRef getName() const = 0;
  /// Adds the passes from the tailor dialect to `phase` (Linalg or LLVM).
  virtual void buildPipeline(OpPassManager &pm, const TargetOptions &options,
                             CompilePhase phase) const = 0;
};

/// The registered targets by name ("cpu"); null when unknown.
const Target *lookupTarget(llvm::StringRef name);
/// Names of all targets, for --help and error messages.
std::string listTargets();

/// Registers the targets' pipelines as textual pass pipelines
/// (`tailor-cpu-pipeline`).
void registerTargetPipelines();

} // namespace mlir::tailor

#endif // TAILOR_TARGET_TARGET_H
