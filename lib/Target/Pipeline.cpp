//===- Pipeline.cpp - The phases of a compilation -------------------------===//

#include "tailor/Target/Signature.h"
#include "tailor/Target/Target.h"
#include "tailor/Transforms/KVCache.h"
#include "tailor/Transforms/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::tailor;

std::optional<CompilePhase> mlir::tailor::parseCompilePhase(StringRef name) {
  return llvm::StringSwitch<std::optional<CompilePhase>>(name)
      .Case("import", CompilePhase::Import)
      .Case("raise", CompilePhase::Raise)
      .Case("optimize", CompilePhase::Optimize)
      .Case("linalg", CompilePhase::Linalg)
      .Case("llvm", CompilePhase::LLVM)
      .Default(std::nullopt);
}

StringRef mlir::tailor::compilePhaseName(CompilePhase phase) {
  switch (phase) {
  case CompilePhase::Import: return "import";
  case CompilePhase::Raise: return "raise";
  case CompilePhase::Optimize: return "optimize";
  case CompilePhase::Linalg: return "linalg";
  case CompilePhase::LLVM: return "llvm";
  }
  return "?";
}

void mlir::tailor::addQuantizePasses(OpPassManager &pm,
                                     const CompileOptions &options) {
  std::vector<QuantizeStep> steps;
  if (!options.quantize.empty())
    steps.push_back({options.quantize, options.quantizeGroupSize,
                     options.quantizeMethod, options.quantizeSymmetric, {}});
  steps.insert(steps.end(), options.quantizePlan.begin(),
               options.quantizePlan.end());
  for (const QuantizeStep &step : steps) {
    TailorQuantizeOptions quantize;
    quantize.mode = step.mode;
    quantize.groupSize = step.groupSize;
    quantize.symmetric = step.symmetric;
    quantize.method = step.method;
    quantize.smoothAlpha = options.smoothAlpha;
    quantize.calibration = options.calibration;
    quantize.exclude.assign(options.quantizeExclude.begin(),
                            options.quantizeExclude.end());
    quantize.only.assign(step.only.begin(), step.only.end());
    quantize.embeddings = options.quantizeEmbeddings;
    pm.addPass(createTailorQuantize(quantize));
  }
  // A plan's steps name linears (`only`), which leaves the embedding
  // tables in f32: the plan's measured KL covers what it quantizes.
}

LogicalResult mlir::tailor::lowerModule(ModuleOp module,
                                        const CompileOptions &options,
                                        CompilePhase from, CompilePhase to,
                                        ModelSignature *signature) {
  const Target *target = lookupTarget(options.target);
  if (!target)
    return module.emitError("unknown target '")
           << options.target << "' (known: " << listTargets() << ")";
  // The signature as the tailor dialect has it (ONNX dtypes: ui8 is not
  // i8 yet), with the shapes inference refined.
  auto readSignature = [&]() -> LogicalResult {
    if (!signature)
      return success();
    auto sig = getModelSignature(module);
    if (failed(sig))
      return failure();
    *signature = std::move(*sig);
    // What tailor-kv-cache-in-place will rewrite at the linalg phase, or
    // did already (an input past that phase): then the last input is the
    // cache length, not one of the model's.
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.getName() != signature->entry)
        continue;
      if (auto done = fn->getAttrOfType<IntegerAttr>(kKVCachesAttr)) {
        signature->kvCaches = int32_t(done.getInt());
        if (!signature->inputs.empty() &&
            signature->inputs.back().name == kCacheLengthName)
          signature->inputs.pop_back();
      } else if (options.targetOptions.kvCacheInPlace) {
        signature->kvCaches = int32_t(findInPlaceCaches(fn).size());
      }
    }
    return success();
  };
  if (from == CompilePhase::Optimize && failed(readSignature()))
    return failure();
  for (int p = int(from) + 1; p <= int(to); ++p) {
    auto phase = CompilePhase(p);
    PassManager pm(module.getContext());
    // -mlir-timing, -mlir-print-ir-after-all, ... when the tool registered
    // MLIR's pass-manager options (no-ops otherwise).
    (void)applyPassManagerCLOptions(pm);
    (void)applyDefaultTimingPassManagerCLOptions(pm);
    const char *pipeline = nullptr;
    std::string raisePipeline =
        "func.func(tailor-raise{phases=" + std::to_string(options.raisePhases) +
        "})";
    if (phase == CompilePhase::Raise && options.raise)
      pipeline = raisePipeline.c_str();
    if (phase == CompilePhase::Raise && !options.weightsFile.empty()) {
      TailorLoadWeightsOptions weights;
      weights.path = options.weightsFile;
      pm.addPass(createTailorLoadWeights(weights));
    }
    else if (phase == CompilePhase::Optimize)
      pipeline = "func.func(tailor-infer-shapes),canonicalize,cse";
    if (phase == CompilePhase::Optimize && !options.loraAdapters.empty()) {
      if (!options.raise)
        return module.emitError("merging LoRA adapters needs the raised "
                                "linears (do not turn raising off)");
      TailorLoRAMergeOptions lora;
      lora.adapters.assign(options.loraAdapters.begin(), options.loraAdapters.end());
      lora.adapterWeights.assign(options.loraAdapterWeights.begin(),
                                 options.loraAdapterWeights.end());
      lora.moduleMap.assign(options.loraModuleMap.begin(), options.loraModuleMap.end());
      pm.addPass(createTailorLoRAMerge(lora));
    }
    if (phase == CompilePhase::Optimize && !options.prune.empty()) {
      TailorPruneOptions prune;
      prune.pattern = options.prune;
      prune.sparsity = options.pruneSparsity;
      prune.method = options.pruneMethod;
      prune.calibration = options.calibration;
      prune.exclude.assign(options.pruneExclude.begin(),
                           options.pruneExclude.end());
      pm.addPass(createTailorPrune(prune));
    }
    if (phase == CompilePhase::Optimize)
      addQuantizePasses(pm, options);
    if (pipeline && failed(parsePassPipeline(pipeline, pm)))
      return module.emitError("cannot build the ")
             << compilePhaseName(phase)
             << " pipeline (are Tailor's passes registered?)";
    target->buildPhasePipeline(pm, options.targetOptions, phase);
    // A pass may fail without a diagnostic: then say which phase failed.
    unsigned errors = 0;
    LogicalResult result = success();
    {
      ScopedDiagnosticHandler counter(module.getContext(), [&](Diagnostic &d) {
        errors += d.getSeverity() == DiagnosticSeverity::Error;
        return failure(); // and let the previous handler print it
      });
      result = pm.run(module);
    }
    if (failed(result)) {
      if (!errors)
        module.emitError("the ")
            << compilePhaseName(phase)
            << " phase failed without a diagnostic (a pass did not "
               "converge or hit an internal limit)";
      return failure();
    }
    if (phase == CompilePhase::Optimize && failed(readSignature()))
      return failure();
  }
  return success();
}
