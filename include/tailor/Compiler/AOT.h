//===- AOT.h - Ahead-of-time artifacts: shared objects, objects, LLVM IR --===//
//
// A module lowered to the LLVM dialect (lowerModule(..., CompilePhase::LLVM))
// becomes a file: LLVM IR, an object file, or a shared object that carries
// the code, the weights (read-only data), the model descriptor
// (tailor-c/abi.h) and the C runtime (tailor-c/tailor.h), so that it needs
// nothing from LLVM or MLIR to run.

#ifndef TAILOR_COMPILER_AOT_H
#define TAILOR_COMPILER_AOT_H

#include "tailor/Target/Signature.h"
#include "tailor/Target/Target.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::tailor {

enum class ArtifactKind { SharedObject, Object, LLVMIR };

struct AOTOptions {
  TargetOptions target;
  /// Recorded in the descriptor: "tailor-compile 0.1.0 (cpu, -O2, znver3)".
  std::string producer;
  /// The linker driver (clang). Empty: $TAILOR_CC, else the clang Tailor was
  /// configured with.
  std::string linker;
  /// The runtime archive linked into shared objects. Empty:
  /// $TAILOR_RUNTIME_EMBED, else next to the tools, else the build tree's.
  std::string runtimeArchive;
};

/// The LLVM CPU name `cpu` resolves to ("host" -> this machine's); an error
/// when LLVM does not know it.
llvm::Expected<std::string> resolveTargetCPU(llvm::StringRef cpu);

/// Writes `module` (LLVM dialect, with the entry `signature` names) as
/// `kind` to `path`, atomically (a temporary file renamed at the end).
/// Objects and LLVM IR hold the code, the weights, the descriptor
/// (`tailor_model_abi`) and the packed entry, but not the runtime.
llvm::Error writeArtifact(ModuleOp module, const ModelSignature &signature,
                          const AOTOptions &options, ArtifactKind kind,
                          llvm::StringRef path);

/// A C header for the model: its signature as comments and constants
/// (<prefix>_INPUT_<name> indices, ranks, static sizes).
std::string generateHeader(const ModelSignature &signature,
                           llvm::StringRef prefix, llvm::StringRef source);

} // namespace mlir::tailor

#endif // TAILOR_COMPILER_AOT_H
