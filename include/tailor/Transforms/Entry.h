//===- Entry.h - The function a model runs ---------------------*- C++ -*-===//
//
// A model module's entry is its first public function with a body (the
// imported graph); the signature, the KV cache rewrite and the training
// passes all work on it.

#ifndef TAILOR_TRANSFORMS_ENTRY_H
#define TAILOR_TRANSFORMS_ENTRY_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::tailor {

/// The module's first public function with a body; null when none.
inline func::FuncOp findEntry(ModuleOp module) {
  for (auto f : module.getOps<func::FuncOp>())
    if (f.isPublic() && !f.isExternal())
      return f;
  return {};
}

} // namespace mlir::tailor

#endif // TAILOR_TRANSFORMS_ENTRY_H
