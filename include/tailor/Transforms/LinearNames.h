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

namespace detail {
/// Appends `name` unless it is empty or already there.
inline void addName(llvm::SmallVector<std::string> &names, std::string name) {
  if (!name.empty() && !llvm::is_contained(names, name))
    names.push_back(std::move(name));
}

/// Adds the module paths of a weight's initializer names (the NameLocs of
/// its defining op) to `names`.
inline void addWeightNames(Value weight,
                           llvm::SmallVector<std::string> &names) {
  if (Operation *def = weight.getDefiningOp())
    def->getLoc()->walk([&](Location loc) {
      if (auto name = dyn_cast<NameLoc>(loc))
        addName(names, peft::modulePathOfWeight(name.getName().getValue()));
      return WalkResult::advance();
    });
}
} // namespace detail

/// The module paths of a weight (a linear's, an embedding table): its
/// initializer's names without ".weight".
inline llvm::SmallVector<std::string> weightNames(Value weight) {
  llvm::SmallVector<std::string> names;
  detail::addWeightNames(weight, names);
  return names;
}

inline llvm::SmallVector<std::string> linearNames(LinearOp linear) {
  llvm::SmallVector<std::string> names;
  linear.getLoc()->walk([&](Location loc) {
    if (auto name = dyn_cast<NameLoc>(loc))
      detail::addName(names, peft::modulePathOfNode(name.getName().getValue()));
    return WalkResult::advance();
  });
  detail::addWeightNames(linear.getWeight(), names);
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
