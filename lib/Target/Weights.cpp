//===- Weights.cpp - Model weights kept out of the generated code ---------===//

#include "tailor/Target/Weights.h"

#include "tailor/Codegen/ConstantData.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::tailor;

std::vector<ExternalWeight>
mlir::tailor::externalizeLargeGlobals(ModuleOp module, size_t minBytes) {
  std::vector<ExternalWeight> weights;
  for (auto global : module.getOps<LLVM::GlobalOp>()) {
    if (!global.getConstant() || !global.getValueAttr())
      continue;
    ArrayRef<char> data = getRawConstantBytes(global.getValueAttr());
    if (data.size() < minBytes)
      continue;
    ExternalWeight w;
    w.symbol = global.getSymName().str();
    w.data = data;
    if (auto align = global.getAlignment())
      w.alignment = std::max<uint64_t>(*align, w.alignment);
    weights.push_back(std::move(w));
    global.removeValueAttr();
    global.setLinkage(LLVM::Linkage::External);
  }
  return weights;
}

void mlir::tailor::markGlueCode(ModuleOp module) {
  bool hasKernels = false;
  module.walk([&](LLVM::LLVMFuncOp f) {
    hasKernels |= f->hasAttr("tailor.kernel");
  });
  if (!hasKernels)
    return;
  Builder b(module.getContext());
  module.walk([&](LLVM::LLVMFuncOp f) {
    if (f.isExternal() || f->hasAttr("tailor.kernel"))
      return;
    f->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("optnone"),
                                              b.getStringAttr("noinline")}));
  });
}
