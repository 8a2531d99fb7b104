//===- embedder.cpp - A host compiler that embeds Tailor ------------------===//
//
// Parses MLIR, runs --tailor-raise through one registration call and prints
// the result: what a compiler embedding Tailor would do.

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "tailor/InitTailor.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: embedder FILE.mlir\n";
    return 2;
  }
  mlir::DialectRegistry registry;
  mlir::tailor::registerAllDialects(registry);
  mlir::tailor::registerAllPasses();
  mlir::MLIRContext context(registry);
  auto module = mlir::parseSourceFile<mlir::ModuleOp>(argv[1], &context);
  if (!module)
    return 1;
  mlir::PassManager pm(&context);
  if (mlir::failed(mlir::parsePassPipeline("func.func(tailor-raise)", pm)) ||
      mlir::failed(pm.run(*module)))
    return 1;
  module->print(llvm::outs());
  return 0;
}
