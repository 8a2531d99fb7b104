//===- JitModel.h - Compile a tailor module in memory and run it ----------===//

#ifndef TAILOR_EXECUTION_JITMODEL_H
#define TAILOR_EXECUTION_JITMODEL_H

#include "tailor/Execution/HostTensor.h"
#include "tailor/Target/Signature.h"
#include "tailor/Target/Target.h"
#include "tailor-c/abi.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>

namespace mlir {
class ExecutionEngine;
namespace tailor {

/// A model compiled for this CPU with MLIR's ExecutionEngine.
class JitModel {
public:
  ~JitModel();
  /// Lowers `module` (tailor dialect, one public function) through the CPU
  /// pipeline and JIT-compiles it. Diagnostics go to the module's context.
  /// `raise`: run the raise phase (LLM ops) first.
  static FailureOr<std::unique_ptr<JitModel>>
  compile(ModuleOp module, const TargetOptions &options = {},
          bool raise = true);

  /// Where compile time went, in milliseconds.
  struct Timings {
    double passes = 0;      ///< MLIR pipeline down to the LLVM dialect
    double llvmIR = 0;      ///< translation to LLVM IR and LLVM's -O passes
    double machineCode = 0; ///< instruction selection and linking
  };
  const Timings &compileTimings() const { return timings; }

  const std::vector<TensorSpec> &inputs() const { return inputSpecs; }
  const std::vector<TensorSpec> &outputs() const { return outputSpecs; }

  /// The model as the C runtime sees it: run it through
  /// tailor_model_from_abi (tailor-c/abi.h) and the runtime's API, which
  /// checks inputs and owns results. Valid as long as this object.
  const tailor_abi_model *abi() const { return &abiModel; }

private:
  JitModel() = default;
  std::unique_ptr<ExecutionEngine> engine;
  std::string entry;
  std::vector<TensorSpec> inputSpecs, outputSpecs;
  /// inputSpecs and, with KV caches updated in place, the cache length.
  std::vector<TensorSpec> compiledInputSpecs;
  int32_t kvCaches = 0;
  Timings timings;
  tailor_abi_model abiModel{};
  std::vector<tailor_abi_tensor> abiInputs, abiOutputs;
  /// The weights, bound to the code's external constant globals.
  std::vector<std::string> weightSymbols;
  std::vector<std::unique_ptr<char, void (*)(void *)>> weights;
};

} // namespace tailor
} // namespace mlir

#endif // TAILOR_EXECUTION_JITMODEL_H
