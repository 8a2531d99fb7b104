//===- Passes.h - Tailor passes -------------------------------------------===//

#ifndef TAILOR_TRANSFORMS_PASSES_H
#define TAILOR_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"
#include "tailor/Dialect/Tailor.h"

namespace mlir::tailor {
#define GEN_PASS_DECL
#include "dialects/Tailor/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dialects/Tailor/Passes.h.inc"
} // namespace mlir::tailor

#endif // TAILOR_TRANSFORMS_PASSES_H
