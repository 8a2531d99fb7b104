//===- CompileFile.cpp - One call from a model file to an artifact --------===//

#include "tailor/Compiler/CompileFile.h"

#include "tailor/Compiler/AOT.h"
#include "tailor/Import/OnnxImporter.h"
#include "tailor/InitTailor.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::tailor;
using mlir::tailor::CompileOptions;

namespace tailor {
std::string compileFile(const CompileRequest &request) {
  ArtifactKind kind;
  if (request.emit == "so")
    kind = ArtifactKind::SharedObject;
  else if (request.emit == "obj")
    kind = ArtifactKind::Object;
  else if (request.emit == "llvm")
    kind = ArtifactKind::LLVMIR;
  else if (request.emit != "mlir")
    return "unknown emit kind '" + request.emit + "' (so, obj, llvm, mlir)";
  if (request.optLevel > 3)
    return "optimisation level " + std::to_string(request.optLevel) +
           " (0-3)";
  if (!lookupTarget(request.target))
    return "unknown target '" + request.target + "' (known: " + listTargets() +
           ")";
  auto cpu = resolveTargetCPU(request.cpu);
  if (!cpu)
    return llvm::toString(cpu.takeError());

  DialectRegistry registry;
  mlir::tailor::registerToolEnvironment(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Diagnostics name the ONNX node; a dump of the op (or the whole model)
  // would bury them.
  context.printOpOnDiagnostic(false);
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    if (d.getSeverity() != DiagnosticSeverity::Error)
      return success();
    os << d.getLocation() << ": error: " << d << "\n";
    for (Diagnostic &note : d.getNotes())
      os << note.getLocation() << ": note: " << note << "\n";
    return success();
  });
  auto fail = [&](std::string fallback) {
    return diagnostics.empty() ? fallback : diagnostics;
  };

  OwningOpRef<ModuleOp> module;
  llvm::StringRef input(request.input);
  if (input.ends_with(".mlir") || input.ends_with(".mlirbc"))
    module = parseSourceFile<ModuleOp>(request.input, &context);
  else
    module = importOnnxFile(request.input, &context);
  if (!module)
    return fail("cannot import '" + request.input + "'");

  CompileOptions options;
  options.target = request.target;
  options.targetOptions.optLevel = request.optLevel;
  options.targetOptions.cpu = request.cpu; // "host": the host's features
  options.raise = request.raise;
  ModelSignature signature;
  if (failed(lowerModule(*module, options, CompilePhase::Import,
                         CompilePhase::LLVM, &signature)))
    return fail("compilation failed");
  if (!request.header.empty()) {
    std::string text = generateHeader(signature, request.headerPrefix,
                                      request.input);
    if (llvm::Error err = llvm::writeToOutput(
            request.header, [&](llvm::raw_ostream &out) -> llvm::Error {
              out << text;
              return llvm::Error::success();
            }))
      return llvm::toString(std::move(err));
  }
  if (request.emit == "mlir") {
    if (llvm::Error err = llvm::writeToOutput(
            request.output, [&](llvm::raw_ostream &out) -> llvm::Error {
              module->print(out);
              return llvm::Error::success();
            }))
      return llvm::toString(std::move(err));
    return "";
  }
  AOTOptions aot;
  aot.target = options.targetOptions;
  aot.producer = request.producer + " (" + request.target + ", -O" +
                 std::to_string(request.optLevel) + ", " + *cpu + ")";
  if (llvm::Error err =
          writeArtifact(*module, signature, aot, kind, request.output))
    return llvm::toString(std::move(err));
  return "";
}
} // namespace tailor
