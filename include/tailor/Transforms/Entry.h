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

/// The attribute dictionary of each of `fn`'s results (an empty one where
/// it has none): what a pass that adds results starts from.
inline SmallVector<Attribute> resultAttrDicts(func::FuncOp fn) {
  SmallVector<Attribute> attrs;
  for (unsigned i = 0; i < fn.getNumResults(); ++i)
    attrs.push_back(fn.getResultAttrDict(i)
                        ? Attribute(fn.getResultAttrDict(i))
                        : Attribute(DictionaryAttr::get(fn.getContext())));
  return attrs;
}

/// Makes `results` (attribute dictionaries `attrs`) the results of `fn`,
/// whose body is one block ending in func.return: the return's operands
/// and the function type.
inline void setResults(func::FuncOp fn, ValueRange results,
                       ArrayRef<Attribute> attrs) {
  auto ret = cast<func::ReturnOp>(fn.front().getTerminator());
  ret->setOperands(results);
  fn.setType(FunctionType::get(fn.getContext(), fn.getArgumentTypes(),
                               ValueRange(results).getTypes()));
  fn.setAllResultAttrs(attrs);
}

} // namespace mlir::tailor

#endif // TAILOR_TRANSFORMS_ENTRY_H
