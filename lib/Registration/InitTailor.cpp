//===- InitTailor.cpp - Register Tailor into a host compiler --------------===//

#include "tailor/InitTailor.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "tailor/Dialect/Tailor.h"
#include "tailor/Target/Target.h"
#include "tailor/Transforms/Passes.h"

void mlir::tailor::registerAllDialects(DialectRegistry &registry) {
  registry.insert<TailorDialect, func::FuncDialect, arith::ArithDialect,
                  tensor::TensorDialect, linalg::LinalgDialect,
                  quant::QuantDialect>();
}

void mlir::tailor::registerAllPasses() {
  registerTailorPasses();
  registerTargetPipelines();
}

void mlir::tailor::registerToolEnvironment(DialectRegistry &registry) {
  static bool passes = [] {
    mlir::registerAllPasses();
    mlir::tailor::registerAllPasses();
    return true;
  }();
  (void)passes;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::tailor::registerAllDialects(registry);
}
