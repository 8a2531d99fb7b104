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
#include "llvm/ADT/StringSet.h"

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

/// The linears with constant f32 [K, N] weights in walk order, each with
/// the key calibration statistics are stored under (tailor-calibrate,
/// tailor-prune method=wanda): its first module name, else "linear.<i>"
/// (its position in this list).
inline llvm::SmallVector<std::pair<LinearOp, std::string>>
calibratedLinears(Operation *root) {
  llvm::SmallVector<std::pair<LinearOp, std::string>> out;
  llvm::StringSet<> seen;
  root->walk([&](LinearOp linear) {
    auto type = dyn_cast<RankedTensorType>(linear.getWeight().getType());
    if (!type || type.getRank() != 2 || !type.hasStaticShape() ||
        !type.getElementType().isF32() ||
        !getConstantElements(linear.getWeight()))
      return;
    llvm::SmallVector<std::string> names = linearNames(linear);
    std::string key = names.empty() || seen.contains(names.front())
                          ? "linear." + std::to_string(out.size())
                          : names.front();
    seen.insert(key);
    out.emplace_back(linear, key);
  });
  return out;
}

} // namespace mlir::tailor

#endif // TAILOR_TRANSFORMS_LINEARNAMES_H
