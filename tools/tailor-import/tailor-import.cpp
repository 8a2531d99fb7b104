//===- tailor-import.cpp - ONNX model -> tailor dialect MLIR --------------===//

#include "tailor/Import/OnnxImporter.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::OptionCategory category("tailor-import options");
static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx | model.onnxtxt | ->"),
                                      cl::cat(category));
static cl::opt<std::string>
    outputPath("o", cl::desc("Output file (default: standard output)"),
               cl::value_desc("file"), cl::init("-"), cl::cat(category));
static cl::opt<bool> emitBytecode(
    "emit-bytecode",
    cl::desc("Write MLIR bytecode instead of text (compact for large weights)"),
    cl::init(false), cl::cat(category));
static cl::opt<bool> noShapeInference(
    "no-shape-inference",
    cl::desc("Skip ONNX's model-level shape inference (types then come from "
             "per-node inference only)"),
    cl::init(false), cl::cat(category));
static cl::opt<bool> noCheck("no-check",
                             cl::desc("Skip the ONNX checker"), cl::init(false),
                             cl::cat(category));
static cl::opt<std::string>
    functionName("function-name",
                 cl::desc("Name of the imported function (default: main_graph)"),
                 cl::init("main_graph"), cl::cat(category));
static cl::opt<bool> elideWeights(
    "elide-weights",
    cl::desc("Print weights as elided resources (text output only; the "
             "result cannot be parsed back)"),
    cl::init(false), cl::cat(category));

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "tailor-import: imports an ONNX model (opset 13 and newer) into the "
      "tailor dialect.\n\nThe model is checked, converted to the opset Tailor "
      "defines, shape-inferred and\nwritten as MLIR: one func.func whose "
      "arguments and results carry the ONNX names.\nWeights become resource "
      "blobs; external data is memory-mapped.\n");

  mlir::MLIRContext context;
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  mlir::tailor::OnnxImportOptions options;
  options.functionName = functionName;
  options.shapeInference = !noShapeInference;
  options.check = !noCheck;
  auto module = mlir::tailor::importOnnxFile(inputPath, &context, options);
  if (!module)
    return 1;

  // Written to a temporary file and renamed: never a half-written output.
  Error err = writeToOutput(outputPath, [&](raw_ostream &os) -> Error {
    if (emitBytecode) {
      if (failed(mlir::writeBytecodeToFile(*module, os)))
        return createStringError(inconvertibleErrorCode(),
                                 "cannot write bytecode");
      return Error::success();
    }
    mlir::OpPrintingFlags flags;
    if (elideWeights)
      flags.elideLargeResourceString(64);
    module->print(os, flags);
    return Error::success();
  });
  if (err) {
    errs() << "tailor-import: cannot write '" << outputPath
           << "': " << toString(std::move(err)) << "\n";
    return 1;
  }
  return 0;
}
