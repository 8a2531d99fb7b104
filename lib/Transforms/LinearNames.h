//===- LinearNames.h - The module paths a linear answers to -----*- C++ -*-===//
//
// The names users give a linear (LoRA adapter modules, quantization and
// pruning exclusions): the module scopes of the ONNX MatMul / Gemm nodes in
// its location ("/model/layers.0/mlp/up_proj/MatMul" ->
// "model.layers.0.mlp.up_proj") and its weight initializer's name without
// ".weight".

#ifndef TAILOR_TRANSFORMS_LINEARNAMES_H
#define TAILOR_TRANSFORMS_LINEARNAMES_H

#include "tailor/Dialect/Tailor.h"
#include "tailor/Support/PeftAdapter.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <string>

namespace mlir::tailor {

inline llvm::SmallVector<std::string> linearNames(LinearOp linear) {
  llvm::SmallVector<std::string> names;
  auto add = [&](std::string name) {
    if (!name.empty() && !llvm::is_contained(names, name))
      names.push_back(std::move(name));
  };
  linear.getLoc()->walk([&](Location loc) {
    if (auto name = dyn_cast<NameLoc>(loc))
      add(peft::modulePathOfNode(name.getName().getValue()));
    return WalkResult::advance();
  });
  if (Operation *def = linear.getWeight().getDefiningOp())
    def->getLoc()->walk([&](Location loc) {
      if (auto name = dyn_cast<NameLoc>(loc))
        add(peft::modulePathOfWeight(name.getName().getValue()));
      return WalkResult::advance();
    });
  return names;
}

} // namespace mlir::tailor

#endif // TAILOR_TRANSFORMS_LINEARNAMES_H
