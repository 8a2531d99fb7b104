//===- Passes.h - Tailor passes -------------------------------------------===//

#ifndef TAILOR_TRANSFORMS_PASSES_H
#define TAILOR_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include "tailor/Dialect/Tailor.h"

namespace mlir::tailor {
#define GEN_PASS_DECL
#include "dialects/Tailor/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

#endif // TAILOR_TRANSFORMS_PASSES_H
