//===- Target.h - Code generation targets ---------------------------------===//
//
// Every target (CPU now; CUDA and Metal next) takes the same input: a module
// in the tailor dialect after import/raise. The front half of the compiler
// never looks at the target; a target owns the pipeline from the tailor
// dialect to its own lowest level (LLVM dialect for CPU).

#ifndef TAILOR_TARGET_TARGET_H
#define TAILOR_TARGET_TARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/ADT/StringMap.h"

#include <optional>

#include <memory>
#include <string>
#include <vector>

namespace mlir::tailor {

/// The phases of a compilation, in order; one can stop after any of them
/// (as IREE's --compile-to):
///  import    the tailor dialect as imported (ONNX-level ops)
///  raise     exported subgraphs raised to LLM ops (tailor-raise)
///  optimize  tailor-level clean-up: shapes refined, canonicalized (the
///            compression passes go here)
///  linalg    the target's lowering to linalg/tensor, fused (target-specific)
///  llvm      the LLVM dialect (CPU), ready for translation
enum class CompilePhase { Import, Raise, Optimize, Linalg, LLVM };

/// "import", "raise", ...; std::nullopt for other names.
std::optional<CompilePhase> parseCompilePhase(llvm::StringRef name);
llvm::StringRef compilePhaseName(CompilePhase phase);

struct TargetOptions {
  /// Optimisation level 0-3; 0 keeps loops naive (debugging).
  unsigned optLevel = 2;
  /// Target CPU name for LLVM ("host" = this machine).
  std::string cpu = "host";
  /// Keys per block of the online-softmax attention, used beyond that many
  /// (or a dynamic number of) keys; 0 always materialises the scores.
  int64_t attentionBlock = 256;
  /// Activations of linears with constant int4 weights: "int8" (quantized
  /// at run time, integer micro-kernel) or "f32" (exact group contraction).
  std::string int4Activations = "int8";
  /// A decoder's KV cache (past_* -> Concat -> present_*) updated in place
  /// (tailor-kv-cache-in-place): capacity-backed cache inputs and a length.
  bool kvCacheInPlace = true;
  /// Buffers allocated and freed through counting functions
  /// (finalize-memref-to-llvm's generic functions, bound by the JIT;
  /// tailor/Execution/BufferStats.h): peak buffer memory of a run.
  bool countBuffers = false;
};

class Target {
public:
  virtual ~Target() = default;
  virtual llvm::StringRef getName() const = 0;
  /// Adds the passes that take a module from the phase before `phase` to
  /// `phase`. Targets own the Linalg and LLVM phases (nothing for others).
  virtual void buildPhasePipeline(OpPassManager &pm,
                                  const TargetOptions &options,
                                  CompilePhase phase) const = 0;
};

/// The registered targets by name ("cpu"); null when unknown.
const Target *lookupTarget(llvm::StringRef name);
/// Names of all targets, for --help and error messages.
std::string listTargets();

/// One tailor-quantize run of a per-layer plan (tailor-compile --max-kl,
/// --quantize-plan): a setting and the linears it applies to.
struct QuantizeStep {
  std::string mode; ///< int8, int4 or w8a8
  int64_t groupSize = 128;
  std::string method = "rtn";
  bool symmetric = true;
  /// Module-name regular expressions (tailor-quantize's `only`).
  std::vector<std::string> only;
};

/// What the compiler does beyond the target's options.
struct CompileOptions {
  std::string target = "cpu";
  TargetOptions targetOptions;
  /// Raise exported subgraphs to LLM ops in the raise phase (attention
  /// without repeat_kv copies, fused norms); a subgraph that does not match
  /// stays at ONNX level.
  bool raise = true;
  /// How many of tailor-raise's phases run (fewer: an export to ONNX).
  int64_t raisePhases = 4;
  /// PEFT LoRA adapters merged into the base weights at the start of the
  /// optimize phase (tailor-lora-merge's adapters / adapter-weights /
  /// module-map options).
  std::vector<std::string> loraAdapters;
  /// Trained weights (tailor-train --method full's model.safetensors)
  /// replacing the model's, before raising (tailor-load-weights).
  std::string weightsFile;
  std::vector<double> loraAdapterWeights;
  std::vector<std::string> loraModuleMap;
  /// tailor-quantize's mode ("" = no quantization) and exclusions, run in
  /// the optimize phase after the LoRA merge.
  std::string quantize;
  std::vector<std::string> quantizeExclude;
  int64_t quantizeGroupSize = 128;
  bool quantizeSymmetric = true;
  /// With `quantize`: embedding tables as int8 per row too (a plan's steps
  /// leave them in f32).
  bool quantizeEmbeddings = true;
  /// int4: "rtn", "gptq" or "awq"; w8a8: "rtn" or "smoothquant" (all but
  /// rtn read `calibration`).
  std::string quantizeMethod = "rtn";
  /// smoothquant: the migration strength alpha.
  double smoothAlpha = 0.5;
  /// Per-layer settings, each a tailor-quantize run after `quantize` (if
  /// any), with calibration, smoothAlpha and quantizeExclude as above.
  std::vector<QuantizeStep> quantizePlan;
  /// tailor-prune's pattern ("" = no pruning) and sparsity, run in the
  /// optimize phase before quantization.
  std::string prune;
  double pruneSparsity = 0.5;
  std::string pruneMethod = "magnitude";
  std::vector<std::string> pruneExclude;
  /// tailor-calibrate's statistics, for the passes that need activations.
  std::string calibration;
};

/// Adds the tailor-quantize runs `options` asks for (`quantize`, then each
/// step of `quantizePlan`) to `pm`.
void addQuantizePasses(OpPassManager &pm, const CompileOptions &options);

/// Takes `module` from phase `from` (where it is now) through every phase up
/// to and including `to`. When `signature` is given, the entry's signature
/// is read after the optimize phase (failing if it cannot be passed to
/// compiled code). Diagnostics go to the module's context.
struct ModelSignature;
LogicalResult lowerModule(ModuleOp module, const CompileOptions &options,
                          CompilePhase from, CompilePhase to,
                          ModelSignature *signature = nullptr);

/// The features of `cpu` ("host": this machine's, as detected; otherwise
/// LLVM's list for that x86 CPU name), e.g. {"avx2": true, "avx512f": false}.
llvm::StringMap<bool> cpuFeatures(llvm::StringRef cpu);

/// Registers the targets' pipelines as textual pass pipelines
/// (`tailor-cpu-pipeline`).
void registerTargetPipelines();

} // namespace mlir::tailor

#endif // TAILOR_TARGET_TARGET_H
