//===- tailor-opt.cpp - opt-style driver for Tailor pipelines -------------===//

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "tailor/InitTailor.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::tailor::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::tailor::registerAllDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Tailor optimizer driver: runs Tailor and MLIR passes\n",
      registry));
}
