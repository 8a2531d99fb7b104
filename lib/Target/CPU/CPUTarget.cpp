//===- CPUTarget.cpp - The CPU target: tailor -> linalg -> LLVM -----------===//

#include "tailor/Target/Target.h"

#include "mlir/Pass/PassRegistry.h"
#include "tailor/Transforms/Passes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/X86TargetParser.h"

using namespace mlir;
using namespace mlir::tailor;

namespace {
/// The front of every target: result types refined (the lowering needs
/// ranked types), tailor ops to linalg on tensors, fused.
std::string linalgPipeline(const TargetOptions &options) {
  return (llvm::Twine(options.kvCacheInPlace ? "tailor-kv-cache-in-place," : "") +
          "func.func(tailor-infer-shapes),tailor-lower-to-linalg{"
          "attention-block=" +
          llvm::Twine(options.attentionBlock) +
          " int4-activations=" + options.int4Activations +
          "},canonicalize,cse,func.func(tailor-fuse-elementwise),canonicalize,"
          "cse")
      .str();
}

/// The register micro-kernel that fits the target's vector registers:
/// MR rows x NR columns of accumulators, NR two vectors wide, leaving
/// registers for the two weight vectors and the broadcast row value.
struct MicroKernel {
  int64_t mr, nr;
};

/// AVX-512: 32 zmm registers of 16 floats -> 8 x 32 (16 accumulators).
/// AVX2 (and anything narrower): 16 ymm registers of 8 floats -> 6 x 16
/// (12 accumulators), the classic Haswell kernel; 8 x 32 there spills.
MicroKernel microKernelFor(llvm::StringRef cpu) {
  return cpuFeatures(cpu).lookup("avx512f") ? MicroKernel{8, 32}
                                             : MicroKernel{6, 16};
}

/// The code-generation strategy on tensors (-O1 and above): constant
/// weights packed into column panels, linalg ops outlined into shared kernel
/// functions (one set for N identical layers), contractions tiled to the
/// register micro-kernel and vectorized.
std::string strategyPipeline(const TargetOptions &options) {
  MicroKernel kernel = microKernelFor(options.cpu);
  return ("func.func(tailor-pack-weights{panel=" + llvm::Twine(kernel.nr) +
          "},tailor-approximate-math,tailor-reassociate-reductions),"
          "tailor-outline-kernels,"
          "func.func(tailor-tile-contractions{mr=" +
          llvm::Twine(kernel.mr) + " nr=" + llvm::Twine(kernel.nr) +
          "},tailor-tile-transposes,tailor-parallelize-generics),canonicalize,cse")
      .str();
}

/// Buffers and loops, then LLVM. Vector transfers are unrolled to 1-D,
/// contractions lowered to outer products (broadcast + FMA). Math without an
/// LLVM intrinsic (erf) goes to libm.
const char *kLLVMPipeline =
    "func.func(tailor-erase-recompute-barriers),"
    "one-shot-bufferize{bufferize-function-boundaries allow-return-allocs-from-loops "
    "function-boundary-type-conversion=identity-layout-map},"
    // Folded first (an scf.if whose branches both yield the kernel's init
    // argument), so that a kernel returning its init buffer loses that
    // result instead of returning a clone of it.
    "canonicalize,drop-equivalent-buffer-results,tailor-drop-kv-cache-results,canonicalize,buffer-deallocation-pipeline,"
    "convert-bufferization-to-memref,func.func(tailor-early-dealloc),tailor-fold-fill-copies,"
    "tailor-lower-library-calls,func.func(tailor-lower-reductions),"
    "convert-linalg-to-loops,convert-vector-to-scf{full-unroll=true "
    "target-rank=1},scf-forall-to-parallel,convert-scf-to-openmp,"
    "func.func(tailor-gate-parallel-regions),"
    "lower-affine,canonicalize,cse,"
    "convert-scf-to-cf,func.func(tailor-expand-shape-to-reinterpret-cast),"
    "expand-strided-metadata,lower-affine,"
    "convert-vector-to-llvm{vector-contract-lowering=outerproduct "
    "vector-transpose-lowering=shuffle1d},"
    "finalize-memref-to-llvm{use-generic-functions=GENERIC},"
    "convert-math-to-llvm,convert-math-to-libm,"
    "convert-math-to-funcs,convert-arith-to-llvm,convert-index-to-llvm,"
    "convert-func-to-llvm,convert-cf-to-llvm,convert-arith-to-llvm,"
    "convert-ub-to-llvm,convert-openmp-to-llvm,"
    "reconcile-unrealized-casts,tailor-assert-to-error,canonicalize";

class CPUTarget : public Target {
public:
  StringRef getName() const override { return "cpu"; }
  void buildPhasePipeline(OpPassManager &pm, const TargetOptions &options,
                          CompilePhase phase) const override {
    // The pipelines name registered passes only: parsing cannot fail.
    if (phase == CompilePhase::Linalg &&
        failed(parsePassPipeline(linalgPipeline(options), pm)))
      llvm::report_fatal_error("tailor: bad built-in linalg pipeline");
    if (phase != CompilePhase::LLVM)
      return;
    if (options.optLevel > 0 &&
        failed(parsePassPipeline(strategyPipeline(options), pm)))
      llvm::report_fatal_error("tailor: bad built-in strategy pipeline");
    std::string llvmPipeline = kLLVMPipeline;
    llvmPipeline.replace(llvmPipeline.find("GENERIC"), 7,
                         options.countBuffers ? "true" : "false");
    if (failed(parsePassPipeline(llvmPipeline, pm)))
      llvm::report_fatal_error("tailor: bad built-in LLVM pipeline");
  }
};

const CPUTarget cpuTarget;
} // namespace

llvm::StringMap<bool> mlir::tailor::cpuFeatures(llvm::StringRef cpu) {
  if (cpu.empty() || cpu == "host")
    return llvm::sys::getHostCPUFeatures();
  llvm::SmallVector<llvm::StringRef> names;
  llvm::X86::getFeaturesForCPU(cpu, names, /*NeedPlus=*/false);
  llvm::StringMap<bool> features;
  for (llvm::StringRef f : names)
    features[f] = true;
  return features;
}

const Target *mlir::tailor::lookupTarget(StringRef name) {
  if (name == "cpu")
    return &cpuTarget;
  return nullptr;
}

std::string mlir::tailor::listTargets() { return "cpu"; }

void mlir::tailor::registerTargetPipelines() {
  static PassPipelineRegistration<> cpu(
      "tailor-cpu-pipeline",
      "Lower the tailor dialect to the LLVM dialect for the CPU "
      "(tailor-lower-to-linalg, fusion, bufferization, loops, LLVM)",
      [](OpPassManager &pm) {
        cpuTarget.buildPhasePipeline(pm, TargetOptions(), CompilePhase::Linalg);
        cpuTarget.buildPhasePipeline(pm, TargetOptions(), CompilePhase::LLVM);
      });
}
